import { DEFAULT_SETTINGS } from '@libs/team-settings';
import type { PricedRun } from '@libs/contracts';
import type { Anomaly } from './core/anomaly';
import { DEFAULT_DETECTOR_OPTIONS, Detector, type LedgerKey } from './core/detector';
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

function restoreFrom(log: Changelog, options = DEFAULT_DETECTOR_OPTIONS): Detector {
  const sut = new Detector(() => DEFAULT_SETTINGS, options);
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
  function firstPart(
    batchSize: number,
    options = DEFAULT_DETECTOR_OPTIONS,
  ): { live: Detector; log: Changelog; anomalies: Anomaly[] } {
    const live = new Detector(() => DEFAULT_SETTINGS, options);
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

  it('still recognises a run delivered again after a restore, and deletes the run ids out of the window', () => {
    const options = { dedupeWindowMs: 3 * HOUR, dedupeMaxIds: 200_000 };
    const { live, log } = firstPart(50, options);
    const compacted = compact(log);
    const seen = compacted.filter((r) => r.key.startsWith('seen:') && r.value !== null);
    const latest = Math.max(...seen.map((r) => (JSON.parse(r.value!) as { at: number }).at));
    for (const r of seen)
      expect((JSON.parse(r.value!) as { at: number }).at).toBeGreaterThanOrEqual(latest - 3 * HOUR);
    expect(log.some((r) => r.key.startsWith('seen:') && r.value === null)).toBe(true);

    const restored = restoreFrom(compacted, options);
    expect(restored.rememberedIds).toBe(live.rememberedIds);
    // the runs of the last two hours of stream time delivered again (priced again, from other offsets)
    const end = runs[cut - 1].run.finished_at;
    const retried = runs
      .slice(0, cut)
      .filter((r) => r.run.finished_at > end - 2 * HOUR)
      .map((r) => ({ ...r, priced_at: r.priced_at + 60_000 }));
    expect(retried.length).toBeGreaterThan(10);
    const out = detectBatch(restored, retried);
    expect(out).toEqual({ anomalies: [], ledgers: [], teamSpend: [], duplicates: retried.length });
    expect(restored.agents).toEqual(live.agents);

    const after = runs.slice(cut);
    expect(rest(restored, [...retried, ...after])).toEqual(rest(live, after));
  });

  it('restores ledgers keyed by names of Object.prototype as they were', () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const at = runs[cut - 1].run.finished_at;
    const hostile: PricedRun[] = names.flatMap((name, n) =>
      [0, 1, 2].map((i) => {
        const base = runs[cut - 1 - n * 3 - i];
        return {
          ...base,
          team: 'support',
          run: {
            ...base.run,
            team: 'support',
            run_id: `${name}-${i}`,
            agent_id: name,
            finished_at: at,
            session_id: name,
            parent_run_id: name,
            customer_id: name,
            feature: name,
          },
        };
      }),
    );
    const live = new Detector(() => DEFAULT_SETTINGS);
    const log: Changelog = [];
    const first = [...runs.slice(0, cut), ...hostile];
    for (let i = 0; i < first.length; i += 20) log.push(...detectBatch(live, first.slice(i, i + 20)).ledgers);

    const restored = restoreFrom(compact(log));
    expect(({} as Record<string, unknown>).runs).toBeUndefined();
    expect(restored.agents).toEqual(live.agents);
    for (const name of names) {
      const a = restored.agents.get(`support/${name}`)!;
      for (const map of [a.sessions, a.parents, a.today.customers, a.today.features, a.tracked]) {
        expect(Object.getPrototypeOf(map)).toBeNull();
      }
      expect(Object.keys(a.sessions)).toEqual([name]);
      expect(a.sessions[name].runs).toBe(3);
      expect(Object.keys(a.parents)).toEqual([name]);
      expect(Object.keys(a.today.customers)).toEqual([name]);
    }
    const after = runs.slice(cut);
    expect(rest(restored, after)).toEqual(rest(live, after));
  });
});
