import type { AgentStats, PricedRun } from '@libs/contracts';
import { aggregationSettings } from '../../../aggregator/src/core/agent-state';
import {
  DEFAULT_OPTIONS,
  PartitionState,
  type AggregatorOptions,
} from '../../../aggregator/src/core/aggregator';
import { detectBatch, detectTeamBatch } from '../detect-batch';
import type { Anomaly } from './anomaly';
import { Detector, type SettingsLookup } from './detector';
import { TeamDetector } from './team-detector';
import { TeamDailySpend } from './team-daily';

/** What one slice of runs made the chain emit. */
export interface SliceOutput {
  anomalies: Anomaly[];
  stats: AgentStats[];
  duplicates: number;
  /** Runs the aggregator judged late (finished more than its grace period before its stream time). */
  late: number;
}

/**
 * The card's chain in one process: runs.priced -> the aggregator's partition state (the one owner of per-agent
 * figures) -> agent-stats and team-spend -> the detector's rules. One partition; slices of runs, as the services commit
 * them. The very classes the aggregator and detector services run (not a copy): the tests and benchmarks use it
 * (testing/chain.ts re-exports it) and so does a backtest (`replay` below, POST /v1/backtest).
 */
export class Chain {
  readonly aggregator: PartitionState;
  readonly detector: Detector;
  readonly teams: TeamDetector;
  /** The teams' mean daily spend, from the runs replayed (the service reads it from agent_stats). */
  readonly teamDaily = new TeamDailySpend();

  constructor(
    readonly settingsOf: SettingsLookup,
    options: Partial<AggregatorOptions> = {},
  ) {
    const merged = { ...DEFAULT_OPTIONS, ...options };
    this.aggregator = new PartitionState(0, merged, (team, agentId) =>
      // guard rules take no part in a replay: their decisions lapse by the wall clock, not the runs' time
      aggregationSettings(settingsOf(team, agentId), merged.maxBaselineDays, false),
    );
    this.detector = new Detector(settingsOf, this.teamDaily.lookup);
    this.teams = new TeamDetector(settingsOf);
  }

  /** One committed slice of runs through every stage. */
  slice(runs: readonly PricedRun[]): SliceOutput {
    const out = this.aggregator.process(runs);
    for (const p of runs)
      if (p.price_status === 'priced') this.teamDaily.add(p.team, p.run.finished_at, p.total_cost_nanos);
    const stats = out.stats.map((s) => s.value);
    return {
      anomalies: [
        ...detectBatch(this.detector, stats).anomalies.map((a) => a.value),
        ...detectTeamBatch(this.teams, out.teamSpend).anomalies.map((a) => a.value),
      ],
      stats,
      duplicates: out.counts.duplicates,
      late: out.counts.late,
    };
  }

  /** Runs in slices of `sliceSize`; what every stage emitted. */
  process(
    runs: Iterable<PricedRun>,
    sliceSize = 50,
  ): { anomalies: Anomaly[]; stats: AgentStats[]; duplicates: number } {
    const anomalies: Anomaly[] = [];
    const stats: AgentStats[] = [];
    let duplicates = 0;
    let slice: PricedRun[] = [];
    const flush = () => {
      const out = this.slice(slice);
      slice = [];
      duplicates += out.duplicates;
      stats.push(...out.stats);
      anomalies.push(...out.anomalies);
    };
    for (const run of runs) {
      slice.push(run);
      if (slice.length >= sliceSize) flush();
    }
    if (slice.length) flush();
    return { anomalies, stats, duplicates };
  }
}

export interface ReplayOptions {
  /**
   * A slice holds the runs that finished within this much event time of its first (default a minute): live, a
   * service commits the runs that arrived since its last commit, a short stretch of time, and each slice gives one
   * agent-stats record per agent it changed, so the rules judge the state after it. Slices spanning hours of history
   * would judge it only at their ends (a threshold crossed at 14:02 seen at 18:00, with 18:00's figures).
   */
  sliceMs?: number;
  /** ...and at most this many runs (default 500). */
  sliceSize?: number;
  aggregator?: Partial<AggregatorOptions>;
  /** The records each slice emitted, in order (kept by the caller as it sees fit: a replay holds none of them). */
  onAnomalies(anomalies: readonly Anomaly[]): void;
  /** Stops the replay (ReplayAbortedError) at its next slice, e.g. when the client that asked has gone. */
  signal?: AbortSignal;
}

export interface ReplayResult {
  runs: number;
  duplicates: number;
  late: number;
}

export class ReplayAbortedError extends Error {
  constructor() {
    super('replay aborted');
    this.name = 'ReplayAbortedError';
  }
}

/** The replay gives the event loop back after this much work, so a long one does not stall the process's requests. */
const YIELD_EVERY_MS = 20;

/** The runs already met, page after page, must not go back in event time. */
export class ReplayOrderError extends Error {
  constructor(at: number, previous: number) {
    super(
      `replay needs runs in event-time order: a run finished at ${new Date(at).toISOString()} after one at ` +
        `${new Date(previous).toISOString()}`,
    );
    this.name = 'ReplayOrderError';
  }
}

/**
 * Replays history, e.g. stored runs read back page by page, through the chain: what the rules would have emitted for
 * these runs with these settings. Bounded memory: one page and one slice at a time, plus the chain's own state (the
 * agents' day buckets, as the aggregator keeps them); the stats records are not kept and the anomalies go to
 * `onAnomalies` as they come.
 *
 * Judged on event time, as live data arriving on time is. The aggregator calls a run late when it finished more than
 * its grace period (AggregatorOptions.graceMs, 3 h) before the partition's stream time (the latest finished_at it has
 * seen), never by the wall clock; a late run updates the figures but its records never page (Detector.onStats:
 * `s.late` judges nothing, and the alert-router drops late records), which is what a replay of history would all be
 * if it were judged by the wall clock. So the pages must come in finished_at order (checked: ReplayOrderError): the
 * stream time then follows the runs, nothing is late, and each run is judged as it was when it finished. Each run's
 * received_at is also set to its finished_at, so that anything judging arrival against event time
 * (DetectorSettings.lateAfterMs: "finished longer ago than this when received") sees a run that arrived on time.
 */
export async function replay(
  pages: AsyncIterable<readonly PricedRun[]> | Iterable<readonly PricedRun[]>,
  settingsOf: SettingsLookup,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const chain = new Chain(settingsOf, options.aggregator);
  const sliceMs = options.sliceMs ?? 60_000;
  const sliceSize = options.sliceSize ?? 500;
  const result: ReplayResult = { runs: 0, duplicates: 0, late: 0 };
  let last = -Infinity;
  let slice: PricedRun[] = [];
  let sliceStart = 0;
  let resumed = Date.now();
  const flush = async () => {
    if (options.signal?.aborted) throw new ReplayAbortedError();
    const out = chain.slice(slice);
    slice = [];
    result.duplicates += out.duplicates;
    result.late += out.late;
    if (out.anomalies.length) options.onAnomalies(out.anomalies);
    if (Date.now() - resumed >= YIELD_EVERY_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      resumed = Date.now();
    }
  };
  for await (const page of pages) {
    for (const p of page) {
      const at = p.run.finished_at;
      if (at < last) throw new ReplayOrderError(at, last);
      last = at;
      if (slice.length && at - sliceStart >= sliceMs) await flush();
      if (!slice.length) sliceStart = at;
      slice.push({ ...p, run: { ...p.run, received_at: at } });
      result.runs++;
      if (slice.length >= sliceSize) await flush();
    }
  }
  if (slice.length) await flush();
  return result;
}
