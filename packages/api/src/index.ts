export * from './errors.js';
export * from './config-loader.js';
