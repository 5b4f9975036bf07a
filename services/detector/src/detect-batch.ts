import { agentKey, type AgentStats, type TeamSpend } from '@libs/contracts';
import type { Anomaly } from './core/anomaly';
import type { Detector, IncidentKey } from './core/detector';
import type { TeamDetector, TeamLedgerKey } from './core/team-detector';
import type { ControlRecord } from './core/guard';

export interface DetectedBatch<K extends string> {
  anomalies: { key: string; value: Anomaly }[];
  /** Guard decisions for burnrate.agent-controls.v1 (null values lift them), in order. */
  controls: ControlRecord[];
  /** Changelog records to write, latest state only (one per key per batch); null deletes. */
  ledgers: { key: K; value: string | null }[];
}

const anomalyRecord = (a: Anomaly) => ({ key: agentKey(a.team, a.agent_id ?? '*'), value: a });

/** Runs one batch of agent-stats records through the detector: pure, so it is tested and benchmarked without Kafka. */
/**
 * Runs one batch of agent-stats records through the detector, then its wall-clock sweep of guard decisions (a batch
 * may be only the sweep's wake-up): pure but for the detector's clock, so it is tested and benchmarked without Kafka.
 */
export function detectBatch(detector: Detector, stats: readonly AgentStats[]): DetectedBatch<IncidentKey> {
  const changed = new Set<IncidentKey>();
  const controls: ControlRecord[] = [];
  const found = stats.flatMap((s) => detector.onStats(s, changed, controls));
  found.push(...detector.sweep(changed, controls));
  return {
    anomalies: found.map(anomalyRecord),
    controls,
    ledgers: [...changed].map((key) => ({ key, value: detector.persisted(key) })),
  };
}

/** Runs one batch of team-spend records through the team detector (team and customer budgets). */
export function detectTeamBatch(
  teams: TeamDetector,
  spend: readonly TeamSpend[],
): DetectedBatch<TeamLedgerKey> {
  const changed = new Set<TeamLedgerKey>();
  const controls: ControlRecord[] = [];
  const anomalies = spend.flatMap((s) => teams.onSpend(s, changed, controls)).map(anomalyRecord);
  teams.sweep(changed, controls);
  return { anomalies, controls, ledgers: [...changed].map((key) => ({ key, value: teams.persisted(key) })) };
}
