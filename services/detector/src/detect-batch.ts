import { agentKey, type PricedRun } from '@libs/contracts';
import type { Anomaly } from './core/anomaly';
import { Detector, type LedgerKey } from './core/detector';
import type { TeamDetector, TeamLedgerKey, TeamSpend } from './core/team-detector';

export interface DetectedBatch {
  anomalies: { key: string; value: Anomaly }[];
  /** Changelog records to write, latest state only (one per key per batch); null deletes. */
  ledgers: { key: LedgerKey; value: string | null }[];
  /** What each team spent in the batch, for the team-spend topic (keyed by team). */
  teamSpend: TeamSpend[];
  /** Runs dropped as already counted (same team and run_id within the dedupe window). */
  duplicates: number;
}

const anomalyRecord = (a: Anomaly) => ({ key: agentKey(a.team, a.agent_id ?? '*'), value: a });

/** Runs one batch of priced runs through the detector: pure, so it is tested and benchmarked without Kafka. */
export function detectBatch(detector: Detector, runs: readonly PricedRun[]): DetectedBatch {
  const anomalies: DetectedBatch['anomalies'] = [];
  const changed = new Set<LedgerKey>();
  let duplicates = 0;
  for (const run of runs) {
    const out = detector.onRun(run, changed);
    if (out.duplicate) duplicates++;
    for (const a of out.anomalies) anomalies.push(anomalyRecord(a));
  }
  detector.endBatch(changed);
  const ledgers = [...changed].map((key) => ({ key, value: detector.persisted(key) }));
  return { anomalies, ledgers, teamSpend: detector.takeTeamSpend(), duplicates };
}

/** Runs one batch of team-spend records through the team detector (team and customer budgets). */
export function detectTeamBatch(
  teams: TeamDetector,
  spend: readonly TeamSpend[],
): { anomalies: DetectedBatch['anomalies']; ledgers: { key: TeamLedgerKey; value: string | null }[] } {
  const changed = new Set<TeamLedgerKey>();
  const anomalies = spend.flatMap((s) => teams.onSpend(s, changed)).map(anomalyRecord);
  return { anomalies, ledgers: [...changed].map((key) => ({ key, value: teams.persisted(key) })) };
}
