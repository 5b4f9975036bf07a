export * from './logger';
export * from './metrics';
export * from './health';
export * from './core.module';
export * from './bootstrap';
export * from './api-error.filter';
export * from './error-responses';
