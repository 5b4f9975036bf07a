import { agentKey, type PricedRun } from '@libs/contracts';
import type { Anomaly } from './core/anomaly';
import { Detector, type LedgerKey } from './core/detector';

export interface DetectedBatch {
  anomalies: { key: string; value: Anomaly }[];
  /** Changelog records to write, latest state only (one per key per batch); null deletes. */
  ledgers: { key: LedgerKey; value: string | null }[];
  /** Runs dropped as already counted (same team and run_id within the dedupe window). */
  duplicates: number;
}

/** Runs one batch of priced runs through the detector: pure, so it is tested and benchmarked without Kafka. */
export function detectBatch(detector: Detector, runs: readonly PricedRun[]): DetectedBatch {
  const anomalies: DetectedBatch['anomalies'] = [];
  const changed = new Set<LedgerKey>();
  let duplicates = 0;
  for (const run of runs) {
    const out = detector.onRun(run, changed);
    if (out.duplicate) duplicates++;
    for (const a of out.anomalies) anomalies.push({ key: agentKey(a.team, a.agent_id ?? '*'), value: a });
  }
  detector.endBatch(changed);
  const ledgers = [...changed].map((key) => ({ key, value: detector.persisted(key) }));
  return { anomalies, ledgers, duplicates };
}
