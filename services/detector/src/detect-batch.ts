import { agentKey, type PricedRun } from '@libs/contracts';
import type { Anomaly } from './core/anomaly';
import { Detector, type LedgerKey } from './core/detector';

export interface DetectedBatch {
  anomalies: { key: string; value: Anomaly }[];
  /** Changelog records to write, latest state only (one per key per batch); null deletes. */
  ledgers: { key: LedgerKey; value: string | null }[];
}

/** Runs one batch of priced runs through the detector: pure, so it is tested and benchmarked without Kafka. */
export function detectBatch(detector: Detector, runs: readonly PricedRun[]): DetectedBatch {
  const anomalies: DetectedBatch['anomalies'] = [];
  const changed = new Set<LedgerKey>();
  for (const run of runs) {
    const out = detector.onRun(run, changed);
    for (const a of out.anomalies) anomalies.push({ key: agentKey(a.team, a.agent_id ?? '*'), value: a });
  }
  const ledgers = [...changed].map((key) => ({ key, value: detector.persisted(key) }));
  return { anomalies, ledgers };
}
