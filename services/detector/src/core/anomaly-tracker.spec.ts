import type { Evaluation, Finding } from './anomaly';
import { AnomalyTracker, type TrackedSet } from './anomaly-tracker';

describe(AnomalyTracker.name, () => {
  const T = Date.UTC(2026, 2, 10);
  const finding = (severity: Finding['severity'], observed = 1): Finding => ({
    severity,
    observed,
    threshold: 1,
    summary: 'spend is high',
  });
  const evaluation = (f: Finding | null, windowStart = T): Evaluation => ({
    rule: 'spend_zscore',
    team: 'support',
    agentId: 'triage',
    subject: '',
    windowStart,
    windowEnd: windowStart + 86_400_000,
    finding: f,
  });
  const ctx = (at: number, late = false) => ({ at, late, currency: 'USD', triggerRunId: `run_${at}` });

  it('fires once, escalates when worse, resolves when clear, all on one dedupe key', () => {
    const sut = new AnomalyTracker();
    const tracked: TrackedSet = {};
    const fired = sut.apply(tracked, [evaluation(finding('error'))], ctx(T + 1));
    const again = sut.apply(tracked, [evaluation(finding('error', 2))], ctx(T + 2));
    const worse = sut.apply(tracked, [evaluation(finding('critical', 3))], ctx(T + 3));
    const clear = sut.apply(tracked, [evaluation(null)], ctx(T + 4));
    expect([...fired, ...again, ...worse, ...clear].map((a) => [a.state, a.severity])).toEqual([
      ['firing', 'error'],
      ['escalated', 'critical'],
      ['resolved', 'critical'],
    ]);
    const ids = [...fired, ...worse, ...clear].map((a) => a.anomaly_id);
    expect(new Set(ids).size).toBe(3);
    expect(new Set([...fired, ...worse, ...clear].map((a) => a.dedupe_key)).size).toBe(1);
    expect(clear[0].started_at).toBe(T + 1);
    expect(fired[0].trigger_run_id).toBe(`run_${T + 1}`);
    expect(tracked).toEqual({});
  });

  it('resolves when the window is over', () => {
    const sut = new AnomalyTracker();
    const tracked: TrackedSet = {};
    sut.apply(tracked, [evaluation(finding('error'))], ctx(T + 1));
    expect(sut.expire(tracked, T + 3_600_000, ctx(T + 3_600_000))).toEqual([]);
    const [resolved] = sut.expire(tracked, T + 86_400_000, ctx(T + 86_400_000));
    expect(resolved).toMatchObject({ state: 'resolved', summary: expect.stringContaining('window over') });
  });

  it('marks late findings late and pages at the first live sighting', () => {
    const sut = new AnomalyTracker();
    const tracked: TrackedSet = {};
    const late = sut.apply(tracked, [evaluation(finding('error'))], ctx(T + 1, true));
    const live = sut.apply(tracked, [evaluation(finding('error'))], ctx(T + 2));
    const again = sut.apply(tracked, [evaluation(finding('error'))], ctx(T + 3));
    expect(late.map((a) => [a.state, a.late])).toEqual([['firing', true]]);
    expect(live.map((a) => [a.state, a.late])).toEqual([['firing', false]]);
    expect(again).toEqual([]);
  });
});
