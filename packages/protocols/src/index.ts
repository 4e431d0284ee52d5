export * as dhcp4 from './dhcp4/index.js';
export * as radius from './radius/index.js';
export * from './net.js';
export * from './frames.js';
