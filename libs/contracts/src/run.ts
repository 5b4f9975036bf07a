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

/** Every field of RunEvent, in schema order: a spec checks this against schemas/run.avsc. */
export const RUN_EVENT_FIELDS: readonly (keyof RunEvent)[] = [
  'run_id',
  'agent_id',
  'team',
  'model',
  'provider',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'started_at',
  'finished_at',
  'status',
  'customer_id',
  'feature',
  'cost_centre',
  'session_id',
  'tool',
  'parent_run_id',
  'quality_score',
  'tags',
  'received_at',
  'source',
];

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
