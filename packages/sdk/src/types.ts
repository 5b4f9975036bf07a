/** A run's outcome, as the run contract spells it. */
export type RunStatus = 'success' | 'error' | 'timeout' | 'cancelled';

/**
 * One run as the SDK records it: the public run contract (schemas/run.avsc, docs/producers.md) with times in epoch
 * milliseconds. Never a cost: burnrate prices every run server-side.
 */
export interface SdkRun {
  run_id: string;
  agent_id: string;
  model: string;
  provider: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  cache_write_1h_tokens: number | null;
  started_at: number;
  finished_at: number;
  status: RunStatus;
  customer_id: string | null;
  feature: string | null;
  cost_centre: string | null;
  session_id: string | null;
  tool: string | null;
  parent_run_id: string | null;
  tags: Record<string, string>;
  source: 'sdk';
}

/** One failing field of a run, as ingestion reports it. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * Runs that will never be recorded, and why: refused by ingestion (`rejected`: this run failed validation;
 * `refused`: the whole request was refused, e.g. 401 or 413), or given up after the last retry (`gave_up`).
 */
export interface DeliveryFailure {
  reason: 'rejected' | 'refused' | 'gave_up';
  /** The HTTP status of the answer, or null (a network error, a Kafka failure). */
  status: number | null;
  message: string;
  runs: { run: SdkRun; errors: FieldError[] }[];
}

/** Counters of the client's life so far. */
export interface BurnrateStats {
  /** Runs the transport delivered (HTTP: accepted by ingestion; Kafka: acknowledged). */
  sent: number;
  /** Runs dropped, the oldest first, because the buffer was full. */
  dropped: number;
  /** Runs refused or given up on (each reported to `onError`). */
  failed: number;
  /** Runs waiting to be sent, those in flight included. */
  buffered: number;
  /** Guard checks that could not be answered (network error, 5xx) and were allowed (or refused, when fail-closed). */
  guardFailures: number;
}
