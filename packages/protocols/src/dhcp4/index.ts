export * from './constants.js';
export * from './errors.js';
export * from './message.js';
export * from './options.js';
export * from './relay-agent.js';
