import type { GuardWindow, PricedRun } from '@libs/contracts';
import { guardCountsRun, guardMatchesAgent, type GuardRule } from '@libs/team-settings';

/** Sub-buckets per window: memory per agent and rule is bounded by this, whatever the run rate. */
export const GUARD_SLOTS = 60;

/**
 * A window's state: the rule it counts for (`sig`: metric, window and filters; a rule changed under the same id starts
 * afresh), and its non-empty sub-buckets as [bucket number, sum, earliest finished_at], oldest first.
 */
export interface GuardWindowJson {
  sig: string;
  b: number[];
}

const signature = (r: GuardRule): string =>
  JSON.stringify([r.limit.metric, r.limit.window_s, r.match.customer ?? null, r.match.tool ?? null]);

/** What one run adds to a rule's metric: cost in nano-units, 1 for a run, 1 for a run with a tool. */
function valueOf(r: GuardRule, p: PricedRun, spendNanos: number): number {
  switch (r.limit.metric) {
    case 'cost':
      return spendNanos;
    case 'runs':
      return 1;
    case 'tool_calls':
      return p.run.tool ? 1 : 0;
  }
}

/**
 * One agent's guard windows, one per guard rule matching it: sliding windows of the rule's metric over the runs'
 * event time (finished_at), each in GUARD_SLOTS sub-buckets of window_s/60. As of a
 * time `now`, a window sums the sub-buckets of the last GUARD_SLOTS bucket numbers up to now's: it spans between
 * window_s less one sub-bucket and window_s, in any arrival order. Framework-free; its JSON goes with the agent's
 * changelog record, so a restore gives the same windows exactly.
 */
export class GuardWindows {
  private readonly windows = new Map<string, GuardWindowJson>();

  static fromJSON(j: Record<string, GuardWindowJson>): GuardWindows {
    const g = new GuardWindows();
    for (const [id, w] of Object.entries(j)) g.windows.set(id, { sig: w.sig, b: [...w.b] });
    return g;
  }

  toJSON(): Record<string, GuardWindowJson> {
    return Object.fromEntries(this.windows);
  }

  get empty(): boolean {
    return this.windows.size === 0;
  }

  /** Counts one run of the agent in each of `rules` (those matching it) whose filters it passes; `now` is its clock. */
  apply(rules: readonly GuardRule[], p: PricedRun, spendNanos: number, now: number): void {
    const at = p.run.finished_at;
    for (const r of rules) {
      if (!guardCountsRun(r, p.run)) continue;
      const v = valueOf(r, p, spendNanos);
      if (v <= 0) continue;
      const width = widthOf(r);
      const bucket = Math.floor(at / width);
      const newest = Math.floor(now / width);
      if (bucket <= newest - GUARD_SLOTS) continue; // already slid out of the window
      const w = this.windowOf(r);
      let i = 0;
      while (i < w.b.length && w.b[i] < bucket) i += 3;
      if (i < w.b.length && w.b[i] === bucket) {
        w.b[i + 1] += v;
        w.b[i + 2] = Math.min(w.b[i + 2], at);
      } else w.b.splice(i, 0, bucket, v, at);
      prune(w, newest);
    }
  }

  /**
   * Each of `rules` with something in its window as of `now`, in rule order; windows of rules no longer given (the
   * rule was removed or no longer matches) are forgotten.
   */
  snapshot(rules: readonly GuardRule[], now: number): GuardWindow[] {
    const out: GuardWindow[] = [];
    const live = new Set<string>();
    for (const r of rules) {
      live.add(r.id);
      const w = this.windows.get(r.id);
      if (!w || w.sig !== signature(r)) continue;
      const newest = Math.floor(now / widthOf(r));
      prune(w, newest);
      let sum = 0;
      let first = Infinity;
      for (let i = 0; i < w.b.length; i += 3)
        if (w.b[i] <= newest) {
          sum += w.b[i + 1];
          first = Math.min(first, w.b[i + 2]);
        }
      if (!(sum > 0)) continue;
      out.push({
        rule_id: r.id,
        metric: r.limit.metric,
        window_s: r.limit.window_s,
        observed: r.limit.metric === 'cost' ? sum / 1e9 : sum,
        customer_id: r.match.customer ?? null,
        tool: r.match.tool ?? null,
        first_at: first,
      });
    }
    for (const [id, w] of this.windows) if (!live.has(id) || w.b.length === 0) this.windows.delete(id);
    return out;
  }

  private windowOf(r: GuardRule): GuardWindowJson {
    const sig = signature(r);
    let w = this.windows.get(r.id);
    if (!w || w.sig !== sig) this.windows.set(r.id, (w = { sig, b: [] }));
    return w;
  }
}

/** A sub-bucket's width in ms (not rounded: GUARD_SLOTS of them make the window exactly). */
const widthOf = (r: GuardRule): number => (r.limit.window_s * 1000) / GUARD_SLOTS;

function prune(w: GuardWindowJson, newest: number): void {
  let drop = 0;
  while (drop < w.b.length && w.b[drop] <= newest - GUARD_SLOTS) drop += 3;
  if (drop > 0) w.b.splice(0, drop);
}

/** The rules of `all` that take this agent (its match.agent glob), remembered per rules list (settings reloads). */
export class MatchingRules {
  private of: readonly GuardRule[] | undefined;
  private matched: readonly GuardRule[] = [];

  get(all: readonly GuardRule[], agentId: string): readonly GuardRule[] {
    if (all !== this.of) {
      this.of = all;
      this.matched = all.filter((r) => guardMatchesAgent(r, agentId));
    }
    return this.matched;
  }
}
