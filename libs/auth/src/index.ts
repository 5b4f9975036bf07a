export * from './api-key';
export * from './api-key.repository';
export * from './auth.guard';
export * from './auth.module';
export * from './rate-limiter';
export * from './request-limits';
