// Must run before anything loads kafkajs (see the file).
import './kafkajs-grouping';

export * from './kafka-client';
export * from './oauth-token.provider';
export * from './avro-serde';
export * from './batch-producer';
export * from './batch-consumer';
export * from './failure';
export * from './topics';
export * from './kafka.service';
export * from './kafka.module';
export * from './partitioner';
export * from './partition-reader';
export * from './partition-store';
