export * from './types.js';
export * from './udp.js';
export * from './radius-client.js';
export * from './aaa-service.js';
export * from './accounting-journal.js';
export * from './accounting.js';
export * from './coa-server.js';
export * from './metrics.js';
