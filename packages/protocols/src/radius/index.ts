export * from './constants.js';
export * from './decode-error.js';
export * from './dictionary.js';
export * from './builtin-dictionary.js';
export * from './packet.js';
export * from './attributes.js';
export * from './crypto.js';
export * from './message.js';
