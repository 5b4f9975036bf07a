export * from './rate-card';
export * from './normalize';
export * from './rate-card-resolver';
export * from './genai-import';
export * from './dataset';
export * from './rate-card.repository';
export * from './reprice';
