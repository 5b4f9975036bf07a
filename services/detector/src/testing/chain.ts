import type { AgentStats, PricedRun } from '@libs/contracts';
import type { DetectorSettings } from '@libs/team-settings';
import { aggregationSettings } from '../../../aggregator/src/core/agent-state';
import {
  DEFAULT_OPTIONS,
  PartitionState,
  type AggregatorOptions,
} from '../../../aggregator/src/core/aggregator';
import type { Anomaly } from '../core/anomaly';
import { Detector } from '../core/detector';
import { TeamDetector } from '../core/team-detector';
import { detectBatch, detectTeamBatch } from '../detect-batch';

/**
 * The card's chain in one process, for tests and benchmarks: runs.priced -> the aggregator's partition state (the one
 * owner of per-agent figures) -> agent-stats and team-spend -> the detector's rules. One partition; slices of
 * `sliceSize` runs, as the services commit them.
 */
export class Chain {
  readonly aggregator: PartitionState;
  readonly detector: Detector;
  readonly teams: TeamDetector;

  constructor(settingsOf: (team: string) => DetectorSettings, options: Partial<AggregatorOptions> = {}) {
    const merged = { ...DEFAULT_OPTIONS, ...options };
    this.aggregator = new PartitionState(0, merged, (team) =>
      aggregationSettings(settingsOf(team), merged.maxBaselineDays),
    );
    this.detector = new Detector(settingsOf);
    this.teams = new TeamDetector(settingsOf);
  }

  /** Runs in slices; what every stage emitted. */
  process(
    runs: Iterable<PricedRun>,
    sliceSize = 50,
  ): { anomalies: Anomaly[]; stats: AgentStats[]; duplicates: number } {
    const anomalies: Anomaly[] = [];
    const stats: AgentStats[] = [];
    let duplicates = 0;
    let slice: PricedRun[] = [];
    const flush = () => {
      const out = this.aggregator.process(slice);
      slice = [];
      duplicates += out.counts.duplicates;
      const records = out.stats.map((s) => s.value);
      stats.push(...records);
      anomalies.push(...detectBatch(this.detector, records).anomalies.map((a) => a.value));
      anomalies.push(...detectTeamBatch(this.teams, out.teamSpend).anomalies.map((a) => a.value));
    };
    for (const run of runs) {
      slice.push(run);
      if (slice.length >= sliceSize) flush();
    }
    if (slice.length) flush();
    return { anomalies, stats, duplicates };
  }
}
