import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { day, dayContext, USD } from '../testing/context';
import { CostPerRunDriftRule } from './cost-per-run-drift.rule';

describe(CostPerRunDriftRule.name, () => {
  const sut = new CostPerRunDriftRule();
  const p = DEFAULT_SETTINGS.costPerRunDrift;
  const ctx = (perRun: number) =>
    dayContext({
      today: day({ runs: 100, spendNanos: 100 * perRun }),
      yesterday: day({ runs: 100, spendNanos: 100 * perRun }),
      referenceCostPerRun: { nanos: 0.1 * USD, days: 7 },
    });

  it('fires when cost per run has crept 50% past the reference, once per month', () => {
    const r = sut.evaluate(ctx(0.16 * USD), p, 3, 'UTC', 30);
    expect(r?.finding?.severity).toBe('warning');
    expect(r?.windowStart).toBe(Date.UTC(2026, 2, 1));
    expect(r?.windowEnd).toBe(Date.UTC(2026, 3, 1));
  });

  it('is clear without creep and leaves a sudden jump to the jump rule', () => {
    expect(sut.evaluate(ctx(0.11 * USD), p, 3, 'UTC', 30)?.finding).toBeNull();
    expect(sut.evaluate(ctx(0.5 * USD), p, 3, 'UTC', 30)).toBeNull();
  });

  it('needs weeks of history', () => {
    expect(sut.evaluate(ctx(0.16 * USD), p, 3, 'UTC', 10)).toBeNull();
  });
});
