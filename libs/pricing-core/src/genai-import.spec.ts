import { datasetProviders, matchDataset } from './dataset';
import { datasetRows, rowsFromDataset, timeOfDaySeconds } from './genai-import';
import { RateCardResolver } from './rate-card-resolver';

describe('the rate card from the price dataset', () => {
  const now = Date.UTC(2026, 10, 1);
  let card: RateCardResolver;
  beforeAll(async () => {
    card = new RateCardResolver(await datasetRows('test'));
  });
  const rates = (model: string, provider: string | null = null) => {
    const found = card.resolve(matchDataset(model, provider), now);
    if (found.row === null) throw new Error(`${model}: ${found.reason}`);
    return found.rates;
  };

  it('imports every model of every provider, with integer rates: none dropped', async () => {
    const providers = await datasetProviders();
    const rows = rowsFromDataset(providers, 'test');
    expect(rows).toHaveLength(providers.reduce((n, p) => n + p.models.length, 0));
    expect(new Set(rows.map((r) => r.provider)).size).toBe(providers.length);
    for (const r of rows) {
      for (const v of [r.rates.input, r.rates.output]) expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
      expect(new Set(rows.filter((o) => o.provider === r.provider).map((o) => o.modelId)).size).toBe(
        rows.filter((o) => o.provider === r.provider).length,
      );
    }
  });

  it.each([
    ['gpt-4o-2024-08-06', 'openai'],
    ['claude-sonnet-4-5-20250929', 'anthropic'],
    ['claude-haiku-4-5', null],
    ['gemini-2.5-pro', 'google'],
  ])('prices %s (%s) with sane rates', (model, provider) => {
    const r = rates(model, provider);
    // between $0.01 and $100 per million input tokens
    expect(r.input).toBeGreaterThan(10_000_000);
    expect(r.input).toBeLessThan(100_000_000_000);
    expect(r.output).toBeGreaterThan(r.input);
  });

  it('prices opus far above haiku (the model-swap incident of the brief)', () => {
    expect(rates('claude-opus-4-1').input / rates('claude-3-5-haiku-20241022').input).toBeGreaterThan(10);
  });

  it("keeps DeepSeek's time-of-day prices: standard 00:30-16:30 UTC, off-peak (cheaper) otherwise", () => {
    const at = (iso: string) => card.resolve(matchDataset('deepseek-chat', 'deepseek'), Date.parse(iso));
    const peak = at('2026-05-01T02:00:00Z');
    const offPeak = at('2026-05-01T18:00:00Z');
    if (peak.row === null || offPeak.row === null) throw new Error('deepseek-chat unpriced');
    expect(offPeak.rates.input).toBeLessThan(peak.rates.input);
  });

  it('keeps rows without an output price (embeddings) and models the dataset prices at $0', async () => {
    const found = card.resolve(matchDataset('text-embedding-3-small', 'openai'), now);
    expect(found.row).not.toBeNull();
    if (found.row) expect([found.rates.input > 0, found.rates.output]).toEqual([true, 0]);
  });

  it('reads time-of-day prices as the dataset writes them', () => {
    expect(timeOfDaySeconds('00:30:00Z')).toBe(1800);
    expect(timeOfDaySeconds('16:30:00+08:00')).toBe(8.5 * 3600);
    expect(timeOfDaySeconds('01:00:00-02:00')).toBe(3 * 3600);
    expect(() => timeOfDaySeconds('25:00')).toThrow(/time of day/);
  });
});
