export * from './settings';
export * from './time';
export * from './repository';
export * from './rules';
export * from './agent-settings';
export * from './guard';
