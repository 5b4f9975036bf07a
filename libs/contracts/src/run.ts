/** The run event (schemas/run.avsc) as TypeScript sees it after Avro decoding. Times are epoch milliseconds. */
export interface RunEvent {
  run_id: string;
  agent_id: string;
  team: string | null;
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
  quality_score: number | null;
  tags: Record<string, string>;
  received_at: number | null;
  source: string | null;
}

export const RUN_STATUSES = ['success', 'error', 'timeout', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * The Avro type a TypeScript field type can hold: a `?` suffix for `["null", T]`. Used to tie each TS type below to its
 * .avsc field by field: the compiler checks a shape against the interface, a spec checks it against the schema.
 */
type AvroBase<T> = T extends string
  ? 'string'
  : T extends number
    ? 'int' | 'long' | 'double' | 'timestamp-millis'
    : T extends Buffer
      ? 'bytes'
      : T extends readonly unknown[]
        ? 'array'
        : T extends Record<string, string>
          ? 'map<string>'
          : 'record';
export type AvroShape<T> = {
  readonly [K in keyof T]-?: null extends T[K] ? `${AvroBase<NonNullable<T[K]>>}?` : AvroBase<T[K]>;
};

/** RunEvent field by field, in schema order (schemas/run.avsc). */
export const RUN_EVENT_SHAPE: AvroShape<RunEvent> = {
  run_id: 'string',
  agent_id: 'string',
  team: 'string?',
  model: 'string',
  provider: 'string?',
  input_tokens: 'long',
  output_tokens: 'long',
  cache_read_tokens: 'long?',
  cache_write_tokens: 'long?',
  cache_write_1h_tokens: 'long?',
  started_at: 'timestamp-millis',
  finished_at: 'timestamp-millis',
  status: 'string',
  customer_id: 'string?',
  feature: 'string?',
  cost_centre: 'string?',
  session_id: 'string?',
  tool: 'string?',
  parent_run_id: 'string?',
  quality_score: 'double?',
  tags: 'map<string>',
  received_at: 'timestamp-millis?',
  source: 'string?',
};

/** Every field of RunEvent, in schema order. */
export const RUN_EVENT_FIELDS = Object.keys(RUN_EVENT_SHAPE) as readonly (keyof RunEvent)[];

/** A priced run (schemas/priced-run.avsc). Money in integer nano-units of `currency`. */
export interface PricedRun {
  run: RunEvent;
  team: string;
  provider: string;
  price_status: 'priced' | 'unpriced';
  currency: string;
  uncached_input_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  input_cost_nanos: number;
  cache_read_cost_nanos: number;
  cache_write_cost_nanos: number;
  output_cost_nanos: number;
  total_cost_nanos: number;
  rate_card_id: string | null;
  rate_card_version: string | null;
  price_tier: string | null;
  priced_at: number;
}

export interface FieldError {
  field: string;
  message: string;
}

/** The rejected-run record (schemas/rejected-run.avsc). */
export interface RejectedRun {
  run_id: string | null;
  agent_id: string | null;
  team: string | null;
  reason: string;
  errors: FieldError[];
  original: Buffer;
  content_type: string;
  source: string;
  source_topic: string | null;
  source_partition: number | null;
  source_offset: string | null;
  rejected_at: number;
}

/** RejectedRun field by field, in schema order (schemas/rejected-run.avsc). */
export const REJECTED_RUN_SHAPE: AvroShape<RejectedRun> = {
  run_id: 'string?',
  agent_id: 'string?',
  team: 'string?',
  reason: 'string',
  errors: 'array',
  original: 'bytes',
  content_type: 'string',
  source: 'string',
  source_topic: 'string?',
  source_partition: 'int?',
  source_offset: 'string?',
  rejected_at: 'timestamp-millis',
};

/** PricedRun field by field, in schema order (schemas/priced-run.avsc). */
export const PRICED_RUN_SHAPE: AvroShape<PricedRun> = {
  run: 'record',
  team: 'string',
  provider: 'string',
  price_status: 'string',
  currency: 'string',
  uncached_input_tokens: 'long',
  cache_read_tokens: 'long',
  cache_write_tokens: 'long',
  output_tokens: 'long',
  input_cost_nanos: 'long',
  cache_read_cost_nanos: 'long',
  cache_write_cost_nanos: 'long',
  output_cost_nanos: 'long',
  total_cost_nanos: 'long',
  rate_card_id: 'string?',
  rate_card_version: 'string?',
  price_tier: 'string?',
  priced_at: 'timestamp-millis',
};

/**
 * The one definition of a successful run, used by every figure that counts them (the aggregator's day buckets, the
 * detector's cost per successful run, and the recorder's SQL in services/recorder/src/runs.writer.ts, which states it
 * again in SQL): status `success` and, when it has a quality score, one at or above the team's threshold.
 */
export function isSuccessfulRun(
  run: { status: string; quality_score: number | null },
  qualityThreshold: number,
): boolean {
  return run.status === 'success' && (run.quality_score === null || run.quality_score >= qualityThreshold);
}
