import { rateLimitSpec } from '@libs/auth';
import { commonSpec, int, str } from '@libs/config';

export const ingestionSpec = {
  ...commonSpec,
  ...rateLimitSpec,
  PORT: int(8081, { min: 1, max: 65535 }),
  /** Most runs in one POST /v1/runs. */
  MAX_BATCH_RUNS: int(1000, { min: 1 }),
  /** Largest request body, bytes. */
  MAX_BODY_BYTES: int(5 * 1024 * 1024, { min: 1024 }),
  /** How long a request waits for Kafka's acknowledgement before answering 503. */
  PRODUCE_TIMEOUT_MS: int(10000, { min: 100 }),
  /**
   * Runs handed to the producer and not yet acknowledged, beyond which requests are answered 503 at once: while the
   * broker is away the producer keeps retrying what it holds, and this bounds the memory that takes.
   */
  MAX_IN_FLIGHT_RUNS: int(200_000, { min: 1 }),
  /** Seconds a client is told to wait (Retry-After) when Kafka is unavailable. */
  RETRY_AFTER_S: int(5, { min: 1 }),
  /** POST /v1/traces: a trace's spans are held this long after its last span arrived, for its ancestors to arrive. */
  OTEL_TRACE_HOLD_MS: int(5000, { min: 0 }),
  /** ...and never longer than this after its first span arrived. */
  OTEL_TRACE_MAX_HOLD_MS: int(30000, { min: 0 }),
  /** Most spans held in memory by one replica; past it the oldest traces are released early. */
  OTEL_TRACE_MAX_SPANS: int(100_000, { min: 1 }),
  /** The consumer group that holds traces (BURNRATE_TOPIC_NAMESPACE is appended, as to topic names). */
  OTEL_CONSUMER_GROUP: str('burnrate-ingestion-otel'),
};
