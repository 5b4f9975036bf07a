import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { dayContext, USD } from '../testing/context';
import { CostPerRunJumpRule } from './cost-per-run-jump.rule';

describe(CostPerRunJumpRule.name, () => {
  const sut = new CostPerRunJumpRule();
  const p = DEFAULT_SETTINGS.costPerRun;
  const recent = (nanos: number, runs = 20) => dayContext({ recentCostPerRun: { nanos, runs } });

  it('fires critical on a ×12 model swap with before and after cost per run', () => {
    const r = sut.evaluate(recent(1.2 * USD), p, USD);
    expect(r?.finding).toMatchObject({
      severity: 'critical',
      costPerRunBeforeNanos: USD / 10,
      costPerRunNowNanos: 1.2 * USD,
    });
  });

  it('is clear at the norm, holds between 80% and 100% of the line, fires above it', () => {
    expect(sut.evaluate(recent(0.1 * USD), p, USD)?.finding).toBeNull();
    expect(sut.evaluate(recent(0.27 * USD), p, USD)).toBeNull();
    expect(sut.evaluate(recent(0.31 * USD), p, USD)?.finding?.severity).toBe('error');
  });

  it('waits for enough recent runs and ignores jumps that are not worth money', () => {
    expect(sut.evaluate(recent(USD, 2), p, USD)).toBeNull();
    expect(sut.evaluate(recent(USD), p, 1000 * USD)).toBeNull();
  });
});
