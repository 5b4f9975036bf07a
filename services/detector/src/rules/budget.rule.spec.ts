import type { Budget } from '@libs/team-settings';
import { T0, USD } from '../testing/context';
import { BudgetRule } from './budget.rule';

describe(BudgetRule.name, () => {
  const sut = new BudgetRule();
  const budget: Budget = {
    scope: 'team',
    subject: '',
    period: 'day',
    amountNanos: 50 * USD,
    currency: 'USD',
  };
  const at = (spentNanos: number, b: Budget = budget) =>
    sut.evaluate({
      team: 'support',
      agentId: null,
      budget: b,
      windowStart: T0,
      windowEnd: T0 + 86_400_000,
      spentNanos,
      currency: 'USD',
    });

  it('maps 50%, 80% and 100% to warning, error and critical on one key', () => {
    expect(at(24 * USD)?.finding).toBeNull();
    expect(at(25 * USD)?.finding?.severity).toBe('warning');
    expect(at(40 * USD)?.finding?.severity).toBe('error');
    expect(at(50 * USD)?.finding).toMatchObject({ severity: 'critical', threshold: 50 });
    expect(at(25 * USD)?.subject).toBe(at(50 * USD)?.subject);
  });

  it('skips a budget in another currency', () => {
    expect(at(100 * USD, { ...budget, currency: 'GBP' })).toBeNull();
  });
});
