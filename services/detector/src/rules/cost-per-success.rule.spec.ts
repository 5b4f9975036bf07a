import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { day, dayContext, USD } from '../testing/context';
import { CostPerSuccessClimbRule } from './cost-per-success.rule';

describe(CostPerSuccessClimbRule.name, () => {
  const sut = new CostPerSuccessClimbRule();
  const p = DEFAULT_SETTINGS.costPerSuccess;

  it('fires when cost per successful run climbs while cost per run is flat', () => {
    const ctx = dayContext({ today: day({ runs: 200, successful: 80, spendNanos: 20 * USD }) });
    const r = sut.evaluate(ctx, p, USD);
    expect(r?.finding).toMatchObject({ severity: 'warning', costPerRunNowNanos: USD / 10 });
    expect(r!.finding!.observed).toBeCloseTo(0.25);
  });

  it('stays quiet when cost per run rose too (that is a cost jump, not failures)', () => {
    const ctx = dayContext({ today: day({ runs: 200, successful: 80, spendNanos: 60 * USD }) });
    expect(sut.evaluate(ctx, p, USD)).toBeNull();
  });

  it('is clear when the success rate is normal', () => {
    const ctx = dayContext({ today: day({ runs: 200, successful: 180, spendNanos: 20 * USD }) });
    expect(sut.evaluate(ctx, p, USD)?.finding).toBeNull();
  });
});
