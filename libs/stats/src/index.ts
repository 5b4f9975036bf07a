export * from './baseline';
export * from './seasonal';
