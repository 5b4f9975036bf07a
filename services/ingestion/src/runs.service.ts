import { HttpException, Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@libs/auth';
import { CONFIG, type ConfigOf } from '@libs/config';
import {
  RUN_EVENT_FIELDS,
  Topics,
  agentKey,
  validateRunJson,
  type FieldError,
  type RejectedRun,
  type RunEvent,
} from '@libs/contracts';
import { KafkaService, type OutboundRecord } from '@libs/kafka';
import { JsonLogger, Metrics, withTimeout } from '@libs/observability';
import { ingestionSpec } from './ingestion.config';

export type RunResult =
  | { index: number; run_id: string; status: 'accepted' }
  | { index: number; run_id: string | null; status: 'rejected'; errors: FieldError[] };

export interface IngestResponse {
  accepted: number;
  rejected: number;
  results: RunResult[];
}

export type IngestionConfig = Pick<
  ConfigOf<typeof ingestionSpec>,
  'MAX_BATCH_RUNS' | 'PRODUCE_TIMEOUT_MS' | 'MAX_IN_FLIGHT_RUNS' | 'RETRY_AFTER_S'
>;

/** The fewest runs a request may hold: an empty batch is refused (the most is MAX_BATCH_RUNS). */
export const MIN_BATCH_RUNS = 1;

/** Why a whole request is refused: its error code, and burnrate_ingest_requests_refused_total's `code`. */
const REFUSALS = ['invalid_body', 'empty_batch', 'batch_too_large', 'forbidden', 'unavailable'] as const;

function apiError(
  status: number,
  code: (typeof REFUSALS)[number],
  message: string,
  details: unknown = null,
  headers?: Record<string, string>,
): HttpException {
  const err = new HttpException({ error: { code, message, details } }, status);
  if (headers) Object.assign(err, { headers });
  return err;
}

/**
 * Validates runs, publishes the valid ones to burnrate.runs.raw.v1 keyed by agent and the invalid ones (with their
 * original JSON and every failing field) to burnrate.runs.rejected.v1, and answers only after Kafka acknowledged both
 * (acks=all). Ingestion does not dedupe across requests: run_id is the idempotency key downstream (the aggregator and
 * the recorder), so a client may retry a whole batch safely.
 */
@Injectable()
export class RunsService {
  private readonly outcomes;
  private readonly rejectReasons;
  private readonly refusals;
  private readonly batchSizes;
  private readonly produceLatency;
  private inFlight = 0;

  constructor(
    @Inject(CONFIG) private readonly config: IngestionConfig,
    private readonly kafka: KafkaService,
    private readonly logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.outcomes = metrics.counter(
      'burnrate_runs_ingested_total',
      'Runs received over HTTP, by outcome (accepted, rejected, unavailable)',
      ['outcome'] as const,
    );
    this.rejectReasons = metrics.counter(
      'burnrate_runs_rejected_total',
      'Failed checks of rejected runs, by reason (the failing field: input_tokens, finished_at, ...)',
      ['reason'] as const,
    );
    this.refusals = metrics.counter(
      'burnrate_ingest_requests_refused_total',
      'Whole POST /v1/runs requests refused, by error code (401s are counted by the HTTP latency histogram)',
      ['code'] as const,
    );
    // Every series from 0, so increase() sees a replica's first of each (BurnrateIngestionRefusingRuns). A rejection's
    // reason is the failing field's top-level name, or "(run)" for what is not a JSON object.
    metrics.startAtZero(this.outcomes, { outcome: ['accepted', 'rejected', 'unavailable'] });
    metrics.startAtZero(this.rejectReasons, { reason: ['(run)', ...RUN_EVENT_FIELDS] });
    metrics.startAtZero(this.refusals, { code: REFUSALS });
    this.batchSizes = metrics.histogram(
      'burnrate_ingest_batch_runs',
      'Runs per POST /v1/runs',
      [],
      [1, 10, 50, 100, 250, 500, 1000],
    );
    this.produceLatency = metrics.histogram(
      'burnrate_kafka_produce_duration_seconds',
      "Time for Kafka to acknowledge a request's runs",
    );
  }

  async ingest(body: unknown, principal: Principal): Promise<IngestResponse> {
    try {
      return await this.ingestOrThrow(body, principal);
    } catch (err) {
      if (err instanceof HttpException) {
        const response = err.getResponse() as { error?: { code?: string } };
        this.refusals.inc({ code: response.error?.code ?? String(err.getStatus()) });
      }
      throw err;
    }
  }

  private async ingestOrThrow(body: unknown, principal: Principal): Promise<IngestResponse> {
    if (body === null || body === undefined || typeof body !== 'object') {
      throw apiError(400, 'invalid_body', 'the body must be a run object or a JSON array of runs');
    }
    const items: unknown[] = Array.isArray(body) ? body : [body];
    if (items.length < MIN_BATCH_RUNS) throw apiError(400, 'empty_batch', 'the batch holds no runs');
    if (items.length > this.config.MAX_BATCH_RUNS) {
      throw apiError(
        413,
        'batch_too_large',
        `at most ${this.config.MAX_BATCH_RUNS} runs per request, got ${items.length}`,
      );
    }
    this.batchSizes.observe(items.length);
    if (principal.role !== 'admin') this.assertOwnTeam(items, principal);
    if (this.inFlight + items.length > this.config.MAX_IN_FLIGHT_RUNS) {
      throw this.unavailable('too many runs are waiting for Kafka to acknowledge them', items.length);
    }

    const now = Date.now();
    const serde = this.kafka.serde;
    const records: OutboundRecord[] = [];
    const results: RunResult[] = [];
    let accepted = 0;
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      const result = validateRunJson(item, now);
      if (result.ok) {
        const run: RunEvent = result.run;
        if (principal.role !== 'admin') run.team = principal.team;
        records.push({
          topic: Topics.runsRaw.name,
          key: agentKey(run.team, run.agent_id),
          value: serde.encode(Topics.runsRaw, run),
        });
        results.push({ index, run_id: run.run_id, status: 'accepted' });
        accepted++;
      } else {
        const rejected: RejectedRun = {
          run_id: result.run_id,
          agent_id: stringField(item, 'agent_id'),
          team: principal.role === 'admin' ? stringField(item, 'team') : principal.team,
          reason: 'validation_failed',
          errors: result.errors,
          original: Buffer.from(JSON.stringify(item) ?? 'null'),
          content_type: 'application/json',
          source: 'http',
          source_topic: null,
          source_partition: null,
          source_offset: null,
          rejected_at: now,
        };
        records.push({
          topic: Topics.runsRejected.name,
          key: rejected.agent_id ? agentKey(rejected.team, rejected.agent_id) : null,
          value: serde.encode(Topics.runsRejected, rejected),
        });
        results.push({ index, run_id: result.run_id, status: 'rejected', errors: result.errors });
        for (const e of result.errors) this.rejectReasons.inc({ reason: e.field.split('.')[0] });
      }
    }

    await this.publish(records, items.length);
    this.outcomes.inc({ outcome: 'accepted' }, accepted);
    if (items.length > accepted) this.outcomes.inc({ outcome: 'rejected' }, items.length - accepted);
    return { accepted, rejected: items.length - accepted, results };
  }

  /** A team key writes only its own team's runs: any run naming another team refuses the whole request. */
  private assertOwnTeam(items: unknown[], principal: Principal): void {
    const others: { index: number; run_id: string | null; team: string }[] = [];
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      const team = item && typeof item === 'object' ? (item as Record<string, unknown>).team : undefined;
      if (typeof team === 'string' && team !== '' && team !== principal.team) {
        others.push({ index, run_id: stringField(item, 'run_id'), team: team.slice(0, 128) });
      }
    }
    if (others.length > 0) {
      throw apiError(
        403,
        'forbidden',
        `this API key belongs to team "${principal.team}" and cannot write runs for team "${others[0].team}"`,
        { runs: others },
      );
    }
  }

  private async publish(records: OutboundRecord[], runs: number): Promise<void> {
    const started = process.hrtime.bigint();
    this.inFlight += records.length;
    const acknowledged = this.kafka.producer.send(records);
    // The producer keeps retrying after this request gave up on it: count the records until they settle either way.
    void acknowledged.then(
      () => (this.inFlight -= records.length),
      () => (this.inFlight -= records.length),
    );
    try {
      await withTimeout(acknowledged, this.config.PRODUCE_TIMEOUT_MS, 'Kafka did not acknowledge in time');
    } catch (err) {
      this.logger.warn('could not publish runs', { err: (err as Error).message, runs });
      throw this.unavailable(
        'the event log did not acknowledge these runs; retry the request (run_id makes retries safe)',
        runs,
      );
    }
    this.produceLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  private unavailable(message: string, runs: number): HttpException {
    this.outcomes.inc({ outcome: 'unavailable' }, runs);
    return apiError(503, 'unavailable', message, null, { 'Retry-After': String(this.config.RETRY_AFTER_S) });
  }
}

function stringField(item: unknown, field: string): string | null {
  const v = item && typeof item === 'object' ? (item as Record<string, unknown>)[field] : undefined;
  return typeof v === 'string' && v.length <= 256 ? v : null;
}
