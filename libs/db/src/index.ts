export * from './pool';
export * from './data-source';
export * from './db.module';
export * from './timescale';
