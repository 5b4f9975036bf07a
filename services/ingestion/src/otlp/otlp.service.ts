import { HttpException, Inject, Injectable } from '@nestjs/common';
import { apiError, type Principal } from '@libs/auth';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics } from '@libs/contracts';
import { KafkaService, type OutboundRecord } from '@libs/kafka';
import { JsonLogger, Metrics, withTimeout } from '@libs/observability';
import type { ingestionSpec } from '../ingestion.config';
import { SPAN_KINDS, readSpan, type OtelSpan, type OtelSpanBatch } from './genai-span';
import type { OtlpSpan } from './otlp-decode';

export type OtlpConfig = Pick<ConfigOf<typeof ingestionSpec>, 'PRODUCE_TIMEOUT_MS' | 'RETRY_AFTER_S'>;

export interface ExportResult {
  rejectedSpans: number;
  /** Why spans were refused (the first few reasons), or '' */
  errorMessage: string;
}

/** Most spans in one record of burnrate.otel-spans.v1: a large trace is several records, each well under 1 MB. */
export const MAX_SPANS_PER_RECORD = 1000;
/** Reasons quoted in partialSuccess.errorMessage; the count covers them all. */
const MAX_REASONS = 5;

/**
 * POST /v1/traces: reads each span (genai-span.ts), refuses the malformed ones, and publishes the rest, a record per
 * trace keyed `<team>/<trace_id>`, to burnrate.otel-spans.v1, answering once Kafka acknowledged them. Runs are made by
 * the consumer that holds each trace (OtelTraceConsumer), on whichever replica owns the trace's partition.
 */
@Injectable()
export class OtlpService {
  private readonly spans;

  constructor(
    @Inject(CONFIG) private readonly config: OtlpConfig,
    private readonly kafka: KafkaService,
    private readonly logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.spans = metrics.counter(
      'burnrate_otel_spans_received_total',
      'Spans received on POST /v1/traces, by what they are: model and agent (become runs), tool, ignored (not ' +
        'GenAI: kept for ancestry only), refused (malformed GenAI spans, answered in partialSuccess)',
      ['kind'] as const,
    );
    metrics.startAtZero(this.spans, { kind: ['model', 'agent', 'tool', 'ignored', 'refused'] });
  }

  async export(spans: readonly OtlpSpan[], principal: Principal): Promise<ExportResult> {
    const now = Date.now();
    const traces = new Map<string, OtelSpan[]>();
    const reasons: string[] = [];
    const counts = new Map<string, number>(SPAN_KINDS.map((k) => [k, 0]));
    let refused = 0;
    for (const span of spans) {
      const reading = readSpan(span);
      if (!reading.ok) {
        refused++;
        if (reasons.length < MAX_REASONS) reasons.push(`span ${span.spanId || '(no id)'}: ${reading.reason}`);
      }
      const kept = reading.ok ? reading.span : reading.span && { ...reading.span, kind: 'other' as const };
      if (!kept) continue;
      if (reading.ok) counts.set(kept.kind, (counts.get(kept.kind) ?? 0) + 1);
      let trace = traces.get(span.traceId);
      if (!trace) traces.set(span.traceId, (trace = []));
      trace.push(kept);
    }

    const serde = this.kafka.serde;
    const records: OutboundRecord[] = [];
    for (const [traceId, traceSpans] of traces) {
      for (let from = 0; from < traceSpans.length; from += MAX_SPANS_PER_RECORD) {
        const batch: OtelSpanBatch = {
          team: principal.team,
          trace_id: traceId,
          received_at: now,
          spans: traceSpans.slice(from, from + MAX_SPANS_PER_RECORD),
        };
        records.push({
          topic: Topics.otelSpans.name,
          key: `${principal.team}/${traceId}`,
          value: serde.encode(Topics.otelSpans, batch),
        });
      }
    }
    if (records.length > 0) await this.publish(records, spans.length);

    for (const [kind, n] of counts) this.spans.inc({ kind: kind === 'other' ? 'ignored' : kind }, n);
    this.spans.inc({ kind: 'refused' }, refused);
    const more = refused - reasons.length;
    return {
      rejectedSpans: refused,
      errorMessage: refused === 0 ? '' : reasons.join('; ') + (more > 0 ? `; and ${more} more` : ''),
    };
  }

  private async publish(records: OutboundRecord[], spans: number): Promise<void> {
    try {
      await withTimeout(
        this.kafka.producer.send(records),
        this.config.PRODUCE_TIMEOUT_MS,
        'Kafka did not acknowledge in time',
      );
    } catch (err) {
      this.logger.warn('could not publish spans', { err: (err as Error).message, spans });
      throw this.unavailable();
    }
  }

  private unavailable(): HttpException {
    return apiError(
      503,
      'unavailable',
      'the event log did not acknowledge these spans; retry the request (span ids make retries safe)',
      null,
      { 'Retry-After': String(this.config.RETRY_AFTER_S) },
    );
  }
}
