import { tQuantile } from '@libs/stats';
import { DEFAULT_SETTINGS, excessFloor } from '@libs/team-settings';
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

  it('floors the excess at min_excess, or less: a share of the team’s mean daily spend', () => {
    const z = { ...p, minExcessNanos: 1 * USD, minExcessTeamShare: 0.02 };
    expect(excessFloor(z, null)).toBe(USD);
    expect(excessFloor(z, 100 * USD)).toBe(USD);
    expect(excessFloor(z, 20 * USD)).toBe(0.4 * USD);
    expect(excessFloor({ ...z, minExcessTeamShare: 0 }, 20 * USD)).toBe(USD);
  });

  it('honours a team threshold', () => {
    const r = sut.evaluate(dayContext({ today: day({ spendNanos: 13 * USD }) }), { ...p, threshold: 1.2 });
    expect(r?.finding?.threshold).toBeCloseTo(12.4);
  });

  describe('against the expectation that knows the week and the trend', () => {
    // a Saturday: the plain 14-day mean is $10 ± $2, the agent's Saturdays run at $4 ± $0.50
    const saturday = baseline({
      expected: { spend: 4 * USD, stddev: 0.5 * USD, factor: 0.4, trendPerDay: 0 },
    });
    const k = tQuantile(2.5, 14 - 3);

    it('holds the day to its expected spend, with 2.5σ read at the t quantile of 11 degrees of freedom', () => {
      const line = 4 + k * 0.5;
      const at = (spend: number) =>
        sut.evaluate(dayContext({ baseline: saturday, today: day({ spendNanos: spend * USD }) }), {
          ...p,
          minExcessNanos: 0,
        });
      expect(at(line - 0.01)?.finding).toBeNull();
      const r = at(line + 0.01)?.finding;
      expect(r).toMatchObject({ baselineMean: 4, baselineStddev: 0.5 });
      expect(r!.threshold).toBeCloseTo(line, 9);
      expect(r!.zscore).toBeCloseTo((line + 0.01 - 4) / 0.5, 9);
      expect(r!.summary).toContain('expected $4.00 for the day of the week');
      // the plain mean would not have paged: $5.50 is under $10 + 2.5 · $2
      expect(line + 0.01).toBeLessThan(15);
    });

    it('uses the plain mean and deviation when the team turns the seasonal baseline off', () => {
      const r = sut.evaluate(dayContext({ baseline: saturday, today: day({ spendNanos: 15.1 * USD }) }), {
        ...p,
        seasonal: false,
      });
      expect(r?.finding).toMatchObject({ threshold: 15, baselineMean: 10 });
    });
  });
});
