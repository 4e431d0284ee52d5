export * from './freeradius.js';
export * from './frames.js';
export * from './netns.js';
