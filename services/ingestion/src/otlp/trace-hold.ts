import type { OtelSpan } from './genai-span';

export interface TraceHoldLimits {
  /** A trace is released this long after its last span arrived (OTEL_TRACE_HOLD_MS)... */
  holdMs: number;
  /** ...or this long after its first (OTEL_TRACE_MAX_HOLD_MS), whichever comes first. */
  maxHoldMs: number;
  /** Most spans held; past it the oldest traces are released early (OTEL_TRACE_MAX_SPANS). */
  maxSpans: number;
}

export interface HeldTrace {
  /** `<team>/<trace_id>`, the record key. */
  readonly key: string;
  readonly team: string;
  readonly traceId: string;
  readonly partition: number;
  /** Offset of the first record of the trace still held: the partition's commit stops there. */
  readonly firstOffset: bigint;
  readonly firstSeen: number;
  lastSeen: number;
  /** By span id: a span sent twice (an exporter's retry) is one span. */
  readonly spans: Map<string, OtelSpan>;
}

export type ReleaseReason = 'quiet' | 'max_hold' | 'memory';
export const RELEASE_REASONS: readonly ReleaseReason[] = ['quiet', 'max_hold', 'memory'];

/**
 * The traces of the consumed partitions held in memory until they are quiet, bounded in spans. It also says how far
 * each partition may be committed: up to the first record of its oldest trace still held, so that what was consumed
 * but not yet turned into runs is read again after a crash or a rebalance. Plain and synchronous; the clock is passed
 * in.
 */
export class TraceHold {
  private readonly traces = new Map<string, HeldTrace>();
  /** Per partition, its held traces in the order of their first record (so the first is the oldest). */
  private readonly byPartition = new Map<number, Map<string, HeldTrace>>();
  /** Per partition, the offset after the last record added: records below it are redeliveries, passed over. */
  private readonly consumedTo = new Map<number, bigint>();
  private spans = 0;

  constructor(private readonly limits: TraceHoldLimits) {}

  get heldSpans(): number {
    return this.spans;
  }

  get heldTraces(): number {
    return this.traces.size;
  }

  /** Adds a record's spans; false (and nothing added) when the record was already added (a redelivery). */
  add(
    partition: number,
    offset: string,
    batch: { team: string; trace_id: string; spans: readonly OtelSpan[] },
    now: number,
  ): boolean {
    const at = BigInt(offset);
    const consumed = this.consumedTo.get(partition);
    if (consumed !== undefined && at < consumed) return false;
    this.consumedTo.set(partition, at + 1n);
    const key = `${batch.team}/${batch.trace_id}`;
    let trace = this.traces.get(key);
    if (!trace) {
      trace = {
        key,
        team: batch.team,
        traceId: batch.trace_id,
        partition,
        firstOffset: at,
        firstSeen: now,
        lastSeen: now,
        spans: new Map(),
      };
      this.traces.set(key, trace);
      let held = this.byPartition.get(partition);
      if (!held) this.byPartition.set(partition, (held = new Map()));
      held.set(key, trace);
    }
    trace.lastSeen = now;
    for (const span of batch.spans) {
      if (!trace.spans.has(span.span_id)) this.spans++;
      trace.spans.set(span.span_id, span);
    }
    return true;
  }

  /**
   * The traces to release now, oldest first, each with why: quiet for holdMs, held for maxHoldMs, or the oldest while
   * more than maxSpans are held. They stay held until `release` is called (when their runs are durable).
   */
  due(now: number): { trace: HeldTrace; reason: ReleaseReason }[] {
    const out: { trace: HeldTrace; reason: ReleaseReason }[] = [];
    let over = this.spans - this.limits.maxSpans;
    for (const trace of this.traces.values()) {
      if (now - trace.lastSeen >= this.limits.holdMs) out.push({ trace, reason: 'quiet' });
      else if (now - trace.firstSeen >= this.limits.maxHoldMs) out.push({ trace, reason: 'max_hold' });
      else if (over > 0) out.push({ trace, reason: 'memory' });
      else continue;
      over -= trace.spans.size;
    }
    return out;
  }

  release(trace: HeldTrace): void {
    if (this.traces.get(trace.key) !== trace) return;
    this.traces.delete(trace.key);
    this.byPartition.get(trace.partition)?.delete(trace.key);
    this.spans -= trace.spans.size;
  }

  /** Marks a record that holds no spans (undecodable, dead-lettered) as consumed. */
  passOver(partition: number, offset: string): void {
    const next = BigInt(offset) + 1n;
    if (next > (this.consumedTo.get(partition) ?? -1n)) this.consumedTo.set(partition, next);
  }

  /** Per partition consumed, the offset to commit: the first record of its oldest trace held, else all consumed. */
  commitable(): { partition: number; offset: string }[] {
    return [...this.consumedTo].map(([partition, consumed]) => {
      const oldest = this.byPartition.get(partition)?.values().next().value;
      return { partition, offset: String(oldest ? oldest.firstOffset : consumed) };
    });
  }

  /** Forgets the partitions no longer owned (after a rebalance): their new owner reads them again from the commit. */
  keepOnly(partitions: ReadonlySet<number>): void {
    for (const partition of [...this.consumedTo.keys()]) {
      if (partitions.has(partition)) continue;
      for (const trace of this.byPartition.get(partition)?.values() ?? []) this.release(trace);
      this.byPartition.delete(partition);
      this.consumedTo.delete(partition);
    }
  }
}
