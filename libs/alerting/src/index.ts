export * from './types';
export * from './routing';
export * from './messages';
export * from './retry-policy';
export * from './route.repository';
