import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { baseline, day, dayContext, USD } from '../testing/context';
import { UnattributedSpendRule } from './unattributed-spend.rule';

describe(UnattributedSpendRule.name, () => {
  const sut = new UnattributedSpendRule();
  const p = DEFAULT_SETTINGS.unattributed;

  it('fires on a large untagged share worth real money', () => {
    const r = sut.evaluate(
      dayContext({ today: day({ spendNanos: 40 * USD, unattributedNanos: 30 * USD }) }),
      p,
    );
    expect(r?.finding).toMatchObject({ severity: 'warning', observed: 30 });
  });

  it('ignores small amounts and agents that never tag', () => {
    expect(
      sut.evaluate(dayContext({ today: day({ spendNanos: 2 * USD, unattributedNanos: 2 * USD }) }), p),
    ).toBeNull();
    const neverTags = dayContext({
      baseline: baseline({ unattributedMean: 20 * USD }),
      today: day({ spendNanos: 30 * USD, unattributedNanos: 30 * USD }),
    });
    expect(sut.evaluate(neverTags, p)).toBeNull();
  });

  it('is clear when most spend is tagged', () => {
    const r = sut.evaluate(
      dayContext({ today: day({ spendNanos: 40 * USD, unattributedNanos: 6 * USD }) }),
      p,
    );
    expect(r?.finding).toBeNull();
  });
});
