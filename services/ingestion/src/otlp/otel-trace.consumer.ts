import { HttpException, Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Principal } from '@libs/auth';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics } from '@libs/contracts';
import { KafkaService, SerdeError, deadLetterRecord } from '@libs/kafka';
import { Health, JsonLogger, Metrics } from '@libs/observability';
import type { ingestionSpec } from '../ingestion.config';
import { RunsService } from '../runs.service';
import type { OtelSpanBatch } from './genai-span';
import { RELEASE_REASONS, TraceHold } from './trace-hold';
import { traceRuns, type RunJson } from './trace-runs';

export type OtelConsumerConfig = Pick<
  ConfigOf<typeof ingestionSpec>,
  | 'OTEL_TRACE_HOLD_MS'
  | 'OTEL_TRACE_MAX_HOLD_MS'
  | 'OTEL_TRACE_MAX_SPANS'
  | 'OTEL_CONSUMER_GROUP'
  | 'MAX_BATCH_RUNS'
  | 'KAFKA_SESSION_TIMEOUT_MS'
>;

/**
 * Turns the spans on burnrate.otel-spans.v1 into runs. Kafka routes every span of a trace to one partition, so one
 * member of this group sees the whole trace, whichever replica received each part. It holds each trace until it has
 * been quiet for OTEL_TRACE_HOLD_MS (at most OTEL_TRACE_MAX_HOLD_MS; the oldest early past OTEL_TRACE_MAX_SPANS),
 * resolves its ancestry (trace-runs.ts), and hands the runs to RunsService, the validation and publishing path of
 * POST /v1/runs. Offsets are committed only up to the first record of the oldest trace still held: a crash reads again
 * what was not yet turned into runs, and run_id makes the runs published twice one run downstream.
 *
 * Its own kafkajs loop rather than libs/kafka's BatchConsumer, which commits each batch once handled: here a record is
 * done only when its trace is released, seconds and many batches later.
 */
@Injectable()
export class OtelTraceConsumer implements OnModuleDestroy {
  private readonly hold: TraceHold;
  private consumer: Consumer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private releasing: Promise<void> | undefined;
  private readonly committed = new Map<number, string>();
  private readonly log: JsonLogger;
  private crashed: string | null = null;
  private readonly released;
  private readonly orphans;
  private readonly undecodable;
  private readonly dropped;
  private readonly heldSpans;

  constructor(
    @Inject(CONFIG) private readonly config: OtelConsumerConfig,
    private readonly kafka: KafkaService,
    private readonly runs: RunsService,
    logger: JsonLogger,
    metrics: Metrics,
    health: Health,
  ) {
    this.log = logger.child({ component: 'otel-traces' });
    this.hold = new TraceHold({
      holdMs: config.OTEL_TRACE_HOLD_MS,
      maxHoldMs: config.OTEL_TRACE_MAX_HOLD_MS,
      maxSpans: config.OTEL_TRACE_MAX_SPANS,
    });
    this.released = metrics.counter(
      'burnrate_otel_traces_released_total',
      'Traces turned into runs, by why they were released then: quiet (OTEL_TRACE_HOLD_MS after their last span), ' +
        'max_hold (OTEL_TRACE_MAX_HOLD_MS after their first), memory (early, past OTEL_TRACE_MAX_SPANS held)',
      ['reason'] as const,
    );
    metrics.startAtZero(this.released, { reason: RELEASE_REASONS });
    this.orphans = metrics.counter(
      'burnrate_otel_orphan_runs_total',
      'Runs made from GenAI spans whose ancestry stops at a span that had not arrived when their trace was released',
    );
    this.undecodable = metrics.counter(
      'burnrate_otel_span_records_dead_lettered_total',
      'Records of burnrate.otel-spans.v1 that could not be decoded, sent to the dead-letter topic',
    );
    this.dropped = metrics.counter(
      'burnrate_otel_traces_dropped_total',
      'Traces whose runs RunsService refused for another reason than Kafka being unavailable (logged with their ids)',
    );
    this.heldSpans = metrics.gauge(
      'burnrate_otel_held_spans',
      'Spans held in memory until their trace is quiet',
    );
    health.registerLiveness('otel trace consumer', () => this.crashed);
  }

  private get groupId(): string {
    // a namespaced topic gets a group of its own namespace, so that test runs sharing a cluster never share a group
    const ns = Topics.otelSpans.name.slice('burnrate.otel-spans.v1'.length);
    return `${this.config.OTEL_CONSUMER_GROUP}${ns}`;
  }

  /** Joins the group and starts consuming (main.ts, once the service is up; specs of the HTTP side leave it off). */
  async start(): Promise<void> {
    const consumer = this.kafka.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.config.KAFKA_SESSION_TIMEOUT_MS,
      readUncommitted: false,
      maxWaitTimeInMs: 250,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const owned = new Set(payload.memberAssignment[Topics.otelSpans.name] ?? []);
      this.hold.keepOnly(owned);
      for (const p of [...this.committed.keys()]) if (!owned.has(p)) this.committed.delete(p);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.crashed = `otel trace consumer crashed: ${payload.error.message}`;
    });
    await consumer.connect();
    await consumer.subscribe({ topic: Topics.otelSpans.name, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: (payload) => this.onBatch(payload),
    });
    const tick = Math.max(50, Math.min(500, Math.floor(this.config.OTEL_TRACE_HOLD_MS / 4)));
    this.timer = setInterval(() => void this.releaseDue(), tick);
    this.timer.unref();
    this.log.info('consuming', { topic: Topics.otelSpans.name, group: this.groupId });
  }

  /** Before KafkaService's producer is flushed and closed. Held traces are not released: their new owner reads them. */
  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.releasing;
    await this.consumer?.disconnect();
  }

  private async onBatch({ batch, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const topic = Topics.otelSpans;
    const decoded = await this.kafka.serde.decodeMany<OtelSpanBatch>(
      topic,
      batch.messages.map((m) => m.value),
    );
    if (!isRunning() || isStale()) return;
    const now = Date.now();
    const dead = [];
    for (let i = 0; i < batch.messages.length; i++) {
      const message = batch.messages[i];
      const value = decoded[i];
      if (value instanceof SerdeError) {
        dead.push(
          deadLetterRecord({
            record: {
              topic: batch.topic,
              partition: batch.partition,
              offset: message.offset,
              key: message.key?.toString() ?? null,
              raw: message.value,
              headers: message.headers ?? {},
            },
            reason: `undecodable: ${value.message}`,
          }),
        );
        this.hold.passOver(batch.partition, message.offset);
      } else this.hold.add(batch.partition, message.offset, value, now);
    }
    if (dead.length > 0) {
      await this.kafka.producer.send(dead);
      this.undecodable.inc(dead.length);
    }
    this.heldSpans.set(this.hold.heldSpans);
    if (this.hold.heldSpans > this.config.OTEL_TRACE_MAX_SPANS) await this.releaseDue();
  }

  /** Releases the traces due, then commits as far as the traces still held allow. One at a time. */
  releaseDue(now = Date.now()): Promise<void> {
    this.releasing ??= this.release(now)
      .catch((err: unknown) =>
        this.log.warn('releasing traces failed; retrying', { err: (err as Error).message }),
      )
      .finally(() => (this.releasing = undefined));
    return this.releasing;
  }

  private async release(now: number): Promise<void> {
    const due = this.hold.due(now);
    if (due.length > 0) {
      const byTeam = new Map<string, { runs: RunJson[]; orphans: number; traces: typeof due }>();
      for (const d of due) {
        const made = traceRuns(d.trace.traceId, [...d.trace.spans.values()]);
        let team = byTeam.get(d.trace.team);
        if (!team) byTeam.set(d.trace.team, (team = { runs: [], orphans: 0, traces: [] }));
        team.runs.push(...made.runs);
        team.orphans += made.orphans;
        team.traces.push(d);
      }
      for (const [team, { runs, orphans, traces }] of byTeam) {
        const principal: Principal = { keyId: 'otel-traces', team, role: 'team' };
        try {
          for (let from = 0; from < runs.length; from += this.config.MAX_BATCH_RUNS)
            await this.runs.ingest(runs.slice(from, from + this.config.MAX_BATCH_RUNS), principal);
        } catch (err) {
          if (err instanceof HttpException && err.getStatus() === 503) {
            // Kafka unavailable: the traces stay held, and their records uncommitted, until it is back
            this.log.warn('could not publish the runs of released traces; retrying', {
              team,
              runs: runs.length,
              err: err.message,
            });
            continue;
          }
          // anything else would fail again on every retry and hold the partition for every team on it
          this.log.error('the runs of released traces were refused; dropping them', {
            team,
            traces: traces.slice(0, 20).map((t) => t.trace.traceId),
            err,
          });
          this.dropped.inc(traces.length);
        }
        for (const { trace, reason } of traces) {
          this.hold.release(trace);
          this.released.inc({ reason });
        }
        this.orphans.inc(orphans);
        this.heldSpans.set(this.hold.heldSpans);
      }
    }
    await this.commit();
  }

  private async commit(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) return;
    const offsets = this.hold
      .commitable()
      .filter(({ partition, offset }) => this.committed.get(partition) !== offset)
      .map(({ partition, offset }) => ({ topic: Topics.otelSpans.name, partition, offset }));
    if (offsets.length === 0) return;
    await consumer.commitOffsets(offsets);
    for (const { partition, offset } of offsets) this.committed.set(partition, offset);
  }
}
