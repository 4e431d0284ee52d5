export * from './config.js';
export * from './lease-journal.js';
export * from './lease-store.js';
export * from './server.js';
export * from './types.js';
