import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { day, dayContext, baseline, USD } from '../testing/context';
import { SpendZScoreRule } from './spend-zscore.rule';

describe(SpendZScoreRule.name, () => {
  const sut = new SpendZScoreRule();
  const p = DEFAULT_SETTINGS.zscore;

  it('fires as soon as spend so far passes mean + 2.5σ, with z and the baseline', () => {
    const below = sut.evaluate(dayContext({ today: day({ spendNanos: 14.9 * USD, runs: 100 }) }), p);
    const above = sut.evaluate(dayContext({ today: day({ spendNanos: 15.1 * USD, runs: 100 }) }), p);
    expect(below?.finding).toBeNull();
    expect(above?.finding).toMatchObject({
      severity: 'error',
      threshold: 15,
      baselineMean: 10,
      baselineStddev: 2,
    });
    expect(above!.finding!.zscore).toBeCloseTo(2.55, 2);
  });

  it('escalates to critical at twice the margin', () => {
    const r = sut.evaluate(dayContext({ today: day({ spendNanos: 20 * USD }) }), p);
    expect(r?.finding?.severity).toBe('critical');
  });

  it('needs the minimum history and gives no verdict without it', () => {
    const r = sut.evaluate(
      dayContext({ baseline: baseline({ days: 3 }), today: day({ spendNanos: 99 * USD }) }),
      p,
    );
    expect(r).toBeNull();
  });

  it('never pages a cents-level blip when σ is near zero', () => {
    const flat = baseline({ spendMean: 0.2 * USD, spendStddev: 0.001 * USD });
    expect(
      sut.evaluate(dayContext({ baseline: flat, today: day({ spendNanos: 0.9 * USD }) }), p)?.finding,
    ).toBeNull();
    expect(
      sut.evaluate(dayContext({ baseline: flat, today: day({ spendNanos: 1.3 * USD }) }), p)?.finding,
    ).not.toBeNull();
  });

  it('honours a team threshold', () => {
    const r = sut.evaluate(dayContext({ today: day({ spendNanos: 13 * USD }) }), { ...p, threshold: 1.2 });
    expect(r?.finding?.threshold).toBeCloseTo(12.4);
  });
});
