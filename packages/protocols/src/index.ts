export * as dhcp4 from './dhcp4/index.js';
