export { createBurnrate, type Burnrate, type BurnrateOptions } from './client';
export type { RunOptions, RunScope } from './context';
export {
  AgentBlockedError,
  GuardUnavailableError,
  type GuardDecision,
  type GuardOptions,
  type GuardReason,
} from './guard';
export type { KafkaProducerLike, KafkaTransportOptions, SchemaRegistryLike } from './kafka-sink';
export type { BurnrateStats, DeliveryFailure, FieldError, RunStatus, SdkRun } from './types';
