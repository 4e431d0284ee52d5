export * from './native.js';
export * from './struct.js';
export * from './map.js';
export * from './bpf-object.js';
export * from './attach.js';
export * from './ringbuf.js';
export * from './packet-socket.js';
export * from './dhcp-fastpath.js';
export * as abi from './generated/abi.js';
