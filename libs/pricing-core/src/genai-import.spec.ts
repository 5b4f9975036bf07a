import { RateCardResolver } from './rate-card-resolver';
import { rowsFromGenaiPrices } from './genai-import';

describe(rowsFromGenaiPrices.name, () => {
  const rows = rowsFromGenaiPrices('test');
  const card = new RateCardResolver(rows);
  const now = Date.UTC(2026, 10, 1);

  it('imports the major providers with integer rates', () => {
    for (const provider of ['openai', 'anthropic', 'google'])
      expect(rows.filter((r) => r.provider === provider).length).toBeGreaterThan(5);
    for (const r of rows) {
      expect(Number.isInteger(r.rates.input) && Number.isInteger(r.rates.output)).toBe(true);
      expect(r.rates.input).toBeGreaterThanOrEqual(0);
    }
  });

  it.each([
    ['openai', 'gpt-4o-2024-08-06'],
    ['anthropic', 'claude-sonnet-4-5-20250929'],
    ['anthropic', 'claude-haiku-4-5'],
    ['google', 'gemini-2.5-pro'],
  ])('resolves %s %s to a row with sane rates', (provider, model) => {
    const found = card.resolve(provider, model, now);
    expect(found).not.toBeNull();
    // between $0.01 and $100 per million input tokens
    expect(found!.rates.input).toBeGreaterThan(10_000_000);
    expect(found!.rates.input).toBeLessThan(100_000_000_000);
    expect(found!.rates.output).toBeGreaterThan(found!.rates.input);
  });

  it('prices opus far above haiku (the model-swap incident of the brief)', () => {
    const opus = card.resolve('anthropic', 'claude-opus-4-1', now)!.rates.input;
    const haiku = card.resolve('anthropic', 'claude-3-5-haiku-20241022', now)!.rates.input;
    expect(opus / haiku).toBeGreaterThan(10);
  });
});
