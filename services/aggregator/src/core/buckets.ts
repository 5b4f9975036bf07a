import type { AgentStatsBucket } from '@libs/contracts';
import type { Window } from '@libs/team-settings';

/** Field offsets of one bucket inside a ring (a Float64Array: 8 bytes a figure, no per-bucket object). */
export const F = {
  start: 0,
  end: 1,
  spend: 2,
  runs: 3,
  successful: 4,
  failed: 5,
  input: 6,
  output: 7,
  cached: 8,
  unattributed: 9,
  unpriced: 10,
  late: 11,
} as const;
export const WIDTH = 12;

/** The figures one run adds to its buckets. */
export interface RunFigures {
  spend: number;
  successful: boolean;
  failed: boolean;
  input: number;
  output: number;
  cached: number;
  unattributed: number;
  unpriced: boolean;
  late: boolean;
}

/**
 * A fixed ring of event-time buckets (days or hours). A bucket is found by its start; a new bucket takes an empty
 * slot or, when the ring is full, the oldest one's — unless it is older than all of them, in which case it is too old
 * for the state kept and `slotFor` answers -1. Every figure is a sum, so the result never depends on arrival order.
 */
export class BucketRing {
  readonly data: Float64Array;

  /** `data`: a view of `slots * WIDTH` figures (rings of one agent share one buffer: one allocation, not two). */
  constructor(
    readonly slots: number,
    data?: Float64Array,
  ) {
    this.data = data ?? new Float64Array(slots * WIDTH);
  }

  private used(i: number): boolean {
    return this.data[i * WIDTH + F.end] !== 0;
  }

  /** Index of the bucket starting at `start`, or -1. */
  find(start: number): number {
    for (let i = 0; i < this.slots; i++)
      if (this.used(i) && this.data[i * WIDTH + F.start] === start) return i;
    return -1;
  }

  slotFor(w: Window): number {
    const found = this.find(w.start);
    if (found >= 0) return found;
    let target = -1;
    let oldest = Infinity;
    for (let i = 0; i < this.slots; i++) {
      if (!this.used(i)) {
        target = i;
        oldest = -Infinity;
        break;
      }
      const s = this.data[i * WIDTH + F.start];
      if (s < oldest) {
        oldest = s;
        target = i;
      }
    }
    if (oldest !== -Infinity && w.start < oldest) return -1;
    const o = target * WIDTH;
    this.data.fill(0, o, o + WIDTH);
    this.data[o + F.start] = w.start;
    this.data[o + F.end] = w.end;
    return target;
  }

  add(i: number, r: RunFigures): void {
    const d = this.data;
    const o = i * WIDTH;
    d[o + F.spend] += r.spend;
    d[o + F.runs] += 1;
    if (r.successful) d[o + F.successful] += 1;
    if (r.failed) d[o + F.failed] += 1;
    d[o + F.input] += r.input;
    d[o + F.output] += r.output;
    d[o + F.cached] += r.cached;
    d[o + F.unattributed] += r.unattributed;
    if (r.unpriced) d[o + F.unpriced] += 1;
    if (r.late) d[o + F.late] += 1;
  }

  get(i: number, field: number): number {
    return this.data[i * WIDTH + field];
  }

  /** The slot a new bucket would take from the oldest one (the ring is full), or -1 when a slot is free. */
  oldestIfFull(): number {
    let target = -1;
    let oldest = Infinity;
    for (let i = 0; i < this.slots; i++) {
      if (!this.used(i)) return -1;
      const s = this.data[i * WIDTH + F.start];
      if (s < oldest) [oldest, target] = [s, i];
    }
    return target;
  }

  /** The newest bucket's start, or -Infinity when empty. */
  newestStart(): number {
    let start = -Infinity;
    for (let i = 0; i < this.slots; i++)
      if (this.used(i)) start = Math.max(start, this.data[i * WIDTH + F.start]);
    return start;
  }

  /** The newest bucket's end, or 0 when empty. */
  newestEnd(): number {
    let end = 0;
    for (let i = 0; i < this.slots; i++) end = Math.max(end, this.data[i * WIDTH + F.end]);
    return end;
  }

  /** The bucket for `w` as a record, zeros when the ring has none. */
  bucket(w: Window): AgentStatsBucket {
    const i = this.find(w.start);
    const v = (field: number) => (i >= 0 ? this.data[i * WIDTH + field] : 0);
    const runs = v(F.runs);
    const successful = v(F.successful);
    const spend = v(F.spend);
    return {
      start: w.start,
      end: i >= 0 ? v(F.end) : w.end,
      spend_nanos: spend,
      runs,
      successful_runs: successful,
      failed_runs: v(F.failed),
      input_tokens: v(F.input),
      output_tokens: v(F.output),
      cached_tokens: v(F.cached),
      unattributed_spend_nanos: v(F.unattributed),
      unpriced_runs: v(F.unpriced),
      late_runs: v(F.late),
      cost_per_run_nanos: runs > 0 ? spend / runs : null,
      cost_per_successful_run_nanos: successful > 0 ? spend / successful : null,
    };
  }

  /** Used slots only, for the changelog. */
  toJSON(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.slots; i++) {
      if (this.used(i)) for (let f = 0; f < WIDTH; f++) out.push(this.data[i * WIDTH + f]);
    }
    return out;
  }
}
