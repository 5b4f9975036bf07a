import { DEFAULT_SETTINGS } from '@libs/team-settings';
import type { PricedRun } from '@libs/contracts';
import type { Anomaly } from './core/anomaly';
import { Detector, type LedgerKey } from './core/detector';
import { agentFleet, generateRuns } from './testing/synthetic';
import { detectBatch } from './detect-batch';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const START = Date.UTC(2026, 1, 2);

type Changelog = { key: LedgerKey; value: string | null }[];

/** What a compacted topic keeps: the latest record of each key, in the order they were written. */
function compact(log: Changelog): Changelog {
  const last = new Map<LedgerKey, number>();
  log.forEach((r, i) => last.set(r.key, i));
  return log.filter((r, i) => last.get(r.key) === i);
}

function restoreFrom(log: Changelog): Detector {
  const sut = new Detector(() => DEFAULT_SETTINGS);
  for (const r of log) sut.restore(r.key, r.value === null ? null : JSON.parse(r.value));
  sut.restored();
  return sut;
}

describe(detectBatch.name, () => {
  const runs = [
    ...generateRuns({
      start: START,
      days: 9,
      agents: agentFleet(6, 5),
      incidents: [
        { kind: 'model_swap', agentId: 'agent-02', onset: START + 8 * DAY + 9 * HOUR, to: 'claude-opus' },
      ],
      seed: 8,
    }),
  ];
  const cut = Math.floor(runs.length * 0.7);

  /** The first part of the stream in batches, its changelog, and the detector that produced it. */
  function firstPart(batchSize: number): { live: Detector; log: Changelog; anomalies: Anomaly[] } {
    const live = new Detector(() => DEFAULT_SETTINGS);
    const log: Changelog = [];
    const anomalies: Anomaly[] = [];
    for (let i = 0; i < cut; i += batchSize) {
      const out = detectBatch(live, runs.slice(i, Math.min(i + batchSize, cut)));
      log.push(...out.ledgers);
      anomalies.push(...out.anomalies.map((a) => a.value));
    }
    return { live, log, anomalies };
  }

  const rest = (d: Detector, from: PricedRun[]) => detectBatch(d, from).anomalies.map((a) => a.value);

  it('writes each open session as its own record, and agents without their sessions', () => {
    const { live, log } = firstPart(200);
    const sessions = log.filter((r) => r.key.startsWith('session:'));
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.some((r) => r.value === null)).toBe(true); // closed sessions are deleted
    for (const r of log.filter((r) => r.key.startsWith('agent:')))
      expect(Object.keys(JSON.parse(r.value!) as object)).not.toContain('sessions');
    expect([...live.agents.values()].some((a) => Object.keys(a.sessions).length > 0)).toBe(true);
  });

  it('restores from the compacted changelog the ledgers it wrote, and then detects exactly as the live one', () => {
    // small batches: many sessions last written long before their agent's latest record, which compaction keeps
    const { live, log } = firstPart(20);
    const restored = restoreFrom(compact(log));
    expect(restored.agents).toEqual(live.agents);
    expect(restored.teams).toEqual(live.teams);
    const after = runs.slice(cut);
    const expected = rest(live, after);
    expect(expected.some((a) => a.rule === 'cost_per_run_jump' && a.state === 'firing')).toBe(true);
    expect(rest(restored, after)).toEqual(expected);
  });

  it('restores ledgers written before sessions had records of their own (sessions inside the agent record)', () => {
    const { live, log } = firstPart(300);
    // The earlier format: every agent record carried all of its open sessions, and there were no session records.
    const legacy: Changelog = [
      ...log.filter((r) => !r.key.startsWith('session:')),
      ...[...live.agents].map(([id, a]) => ({ key: `agent:${id}` as LedgerKey, value: JSON.stringify(a) })),
    ];
    const restored = restoreFrom(compact(legacy));
    expect(restored.agents).toEqual(live.agents);
    const after = runs.slice(cut);
    expect(rest(restored, after)).toEqual(rest(live, after));
  });
});
