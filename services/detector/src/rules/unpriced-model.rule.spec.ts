import { T0 } from '../testing/context';
import { UnpricedModelRule } from './unpriced-model.rule';

describe(UnpricedModelRule.name, () => {
  it('names the model and dedupes per model and day', () => {
    const sut = new UnpricedModelRule();
    const r = sut.evaluate({
      team: 'support',
      agentId: 'triage',
      provider: 'acme',
      model: 'acme-large-2',
      dayStart: T0,
      dayEnd: T0 + 86_400_000,
      runsToday: 3,
    });
    expect(r.subject).toBe('acme/acme-large-2');
    expect(r.finding?.summary).toContain('acme-large-2');
  });
});
