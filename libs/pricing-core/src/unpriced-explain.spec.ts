import type { Provider } from '@pydantic/genai-prices';
import { datasetProviders } from './dataset';
import { rowsFromDataset } from './genai-import';
import { RateCardResolver } from './rate-card-resolver';
import { editDistance, unpricedExplainer, type UnpricedSighting } from './unpriced-explain';

describe('why a model is unpriced, and the nearest names the dataset knows (the real dataset)', () => {
  const now = Date.UTC(2026, 10, 1);
  const lastSeen = '2026-06-09T10:00:00.000Z';
  let providers: Provider[];
  let explain: (seen: UnpricedSighting) => ReturnType<ReturnType<typeof unpricedExplainer>>;
  beforeAll(async () => {
    providers = await datasetProviders();
    explain = unpricedExplainer(providers, new RateCardResolver(rowsFromDataset(providers, 'test')), now);
  });
  const seen = (provider: string, model: string): UnpricedSighting => ({
    provider,
    model,
    first_seen: lastSeen,
    last_seen: lastSeen,
  });

  it("a typo'd OpenAI model: unknown_model, with OpenAI's nearest names", () => {
    const e = explain(seen('openai', 'gpt-4o-mnii'));
    expect(e.reason).toBe('unknown_model');
    expect(e.suggestions[0]).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(e.suggestions.length).toBeLessThanOrEqual(3);
    expect(e.suggestions.every((s) => s.provider === 'openai')).toBe(true);
    expect(e.explanation).toMatch(/^openai has no model matching 'gpt-4o-mnii'; did you mean gpt-4o-mini/);

    const far = explain(seen('openai', 'gpt-77'));
    expect(far.reason).toBe('unknown_model');
    expect(far.suggestions.length).toBeGreaterThan(0);
    expect(far.suggestions.every((s) => /^gpt-/.test(s.model))).toBe(true);
  });

  it('a model served through a provider that falls back to its maker is suggested under the provider sent', () => {
    const e = explain(seen('azure', 'gpt-4o-mnii'));
    expect(e.reason).toBe('unknown_model');
    expect(e.suggestions[0]).toEqual({ provider: 'azure', model: 'gpt-4o-mini' });
  });

  it('an unknown provider: unknown_provider; a typo of a known one is named, with the model under it', () => {
    const typo = explain(seen('opnai', 'gpt-4o'));
    expect(typo.reason).toBe('unknown_provider');
    expect(typo.suggestions).toEqual([{ provider: 'openai', model: 'gpt-4o' }]);
    expect(typo.explanation).toMatch(/no provider 'opnai' \(did you mean openai\?\)/);

    const bedrock = explain(seen('bedrok', 'anthropic.claude-sonnet-4-5-20250929-v1:0'));
    expect(bedrock.reason).toBe('unknown_provider');
    expect(bedrock.suggestions[0].provider).toBe('aws');

    const selfHosted = explain(seen('selfhosted', 'my-finetune-7b'));
    expect(selfHosted.reason).toBe('unknown_provider');
    expect(selfHosted.explanation).toMatch(/^the price dataset has no provider 'selfhosted'/);
    expect(selfHosted.explanation).not.toMatch(/did you mean/);
  });

  it('no provider and a name nothing is inferred from: send `provider`', () => {
    const e = explain(seen('unknown', 'mymodel'));
    expect(e.reason).toBe('unknown_provider');
    expect(e.explanation).toMatch(
      /^no provider was given and none could be inferred from 'mymodel': send `provider`/,
    );
    for (const s of e.suggestions)
      expect(editDistance('mymodel', s.model.toLowerCase())).toBeLessThanOrEqual(3);

    // A near name with no provider: suggested across every provider, once, with the provider whose own name it is
    // (not also openrouter's deepseek/deepseek-chat).
    const near = explain(seen('unknown', 'deepsek-chat'));
    expect(near.reason).toBe('unknown_provider');
    expect(near.suggestions).toEqual([{ provider: 'deepseek', model: 'deepseek-chat' }]);
    expect(near.explanation).toMatch(/send `provider`, or did you mean deepseek-chat \(deepseek\)\?$/);
  });

  it('no provider, but one inferred from the name: unknown_model of that provider', () => {
    const e = explain(seen('mistral', 'mistral-larg-latest'));
    expect(e.reason).toBe('unknown_model');
    expect(e.suggestions[0]).toEqual({ provider: 'mistral', model: 'mistral-large-latest' });
  });

  it('a model the card prices at its last run: priced_now, pointing to the reprice', () => {
    const e = explain(seen('openai', 'gpt-4o'));
    expect(e).toMatchObject({ reason: 'priced_now', suggestions: [] });
    expect(e.explanation).toMatch(/openai gpt-4o .*POST \/v1\/models\/unpriced\/reprice/);
  });

  it('a model the card prices only from a later date: no_price_at_date, with the period it is priced', async () => {
    const from = Date.UTC(2026, 6, 1);
    const rows = rowsFromDataset(providers, 'test').map((r) =>
      r.provider === 'openai' && r.modelId === 'gpt-4o' ? { ...r, effectiveFrom: from } : r,
    );
    const e = unpricedExplainer(providers, new RateCardResolver(rows), now)(seen('openai', 'gpt-4o'));
    expect(e).toMatchObject({ reason: 'no_price_at_date', suggestions: [] });
    expect(e.explanation).toContain('from 2026-07-01T00:00:00Z, not at 2026-06-09T10:00:00Z');
  });

  it('is cheap: a few milliseconds a model across every provider', () => {
    const fresh = unpricedExplainer(providers, new RateCardResolver([]), now);
    fresh(seen('unknown', 'warm-up')); // gathers the candidate names, once per explainer
    // CPU time, not wall time: other processes on a busy runner do not count against it (about 3 ms here).
    const started = process.cpuUsage();
    for (let i = 0; i < 20; i++) fresh(seen('unknown', `unheard-of-model-${i}`));
    const { user, system } = process.cpuUsage(started);
    expect((user + system) / 1000 / 20).toBeLessThan(15);
  });

  it('distance: Damerau–Levenshtein, capped', () => {
    expect(editDistance('gpt-4o', 'gpt-4o')).toBe(0);
    expect(editDistance('gpt-4o', 'gpt4-o')).toBe(1);
    expect(editDistance('gpt-77', 'gpt-5')).toBe(2);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('abcdefgh', 'zzzzzzzz', 2)).toBe(3);
  });
});
