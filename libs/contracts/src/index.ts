export * from './topics';
export * from './schemas';
export * from './run';
export * from './run-validation';
export * from './openapi';
export * from './agent-stats';
export * from './anomaly';
export * from './team-spend';
