import type { RunEvent } from '@libs/contracts';
import { perMTok, type RateRow, type Rates } from './rate-card';
import { RateCardResolver } from './rate-card-resolver';

const EPOCH = Date.UTC(2020, 0, 1);
const at = (iso: string): number => Date.parse(iso);
const rates = (
  input: number,
  output: number,
  cacheRead: number | null = null,
  cacheWrite: number | null = null,
  cacheWrite1h: number | null = null,
): Rates => ({
  input: perMTok(input),
  output: perMTok(output),
  cacheRead: cacheRead === null ? null : perMTok(cacheRead),
  cacheWrite: cacheWrite === null ? null : perMTok(cacheWrite),
  cacheWrite1h: cacheWrite1h === null ? null : perMTok(cacheWrite1h),
});
const row = (over: Partial<RateRow> & Pick<RateRow, 'id' | 'provider' | 'match' | 'rates'>): RateRow => ({
  source: 'genai-prices',
  modelId: over.id,
  priority: 0,
  effectiveFrom: EPOCH,
  effectiveTo: null,
  currency: 'USD',
  tiers: [],
  variants: [],
  multiplier: null,
  version: 'golden',
  ...over,
});

// Published per-million prices (USD), written out here so the golden figures never move with the dataset.
const card = new RateCardResolver([
  row({
    id: 'gpt-4o',
    provider: 'openai',
    match: { or: [{ equals: 'gpt-4o' }, { equals: 'gpt-4o-2024-08-06' }] },
    rates: rates(2.5, 10, 1.25),
  }),
  row({
    id: 'gpt-4o-mini@2020',
    modelId: 'gpt-4o-mini',
    provider: 'openai',
    match: { equals: 'gpt-4o-mini' },
    rates: rates(0.15, 0.6, 0.075),
    effectiveTo: at('2026-03-15T00:00:00Z'),
  }),
  row({
    id: 'gpt-4o-mini@2026-03-15',
    modelId: 'gpt-4o-mini',
    provider: 'openai',
    match: { equals: 'gpt-4o-mini' },
    rates: rates(0.1, 0.4, 0.05),
    effectiveFrom: at('2026-03-15T00:00:00Z'),
  }),
  row({
    id: 'claude-sonnet-4-5',
    provider: 'anthropic',
    match: { starts_with: 'claude-sonnet-4-5' },
    rates: rates(3, 15, 0.3, 3.75, 6),
    tiers: [{ above: 200_000, rates: rates(6, 22.5, 0.6, 7.5, 12) }],
  }),
  row({
    id: 'gemini-2.5-pro',
    provider: 'google',
    match: { starts_with: 'gemini-2.5-pro' },
    rates: rates(1.25, 10, 0.125),
    tiers: [{ above: 200_000, rates: rates(2.5, 15, 0.25) }],
  }),
  row({
    id: 'cheap-embed',
    source: 'override',
    priority: 100,
    provider: 'openai',
    match: { equals: 'cheap-embed' },
    rates: rates(0.0375, 0),
  }),
  // A peak price, an off-peak one from 16:30 to 00:30 UTC, and a new peak price from 2026-08-17: the dataset's order,
  // whose last matching entry wins.
  row({
    id: 'deepseek-chat',
    provider: 'deepseek',
    match: { equals: 'deepseek-chat' },
    rates: rates(0.27, 1.1),
    variants: [
      { when: { startDate: at('2026-08-17T00:00:00Z') }, rates: rates(0.28, 0.42), tiers: [] },
      { when: { timeOfDay: [16.5 * 3600, 0.5 * 3600] }, rates: rates(0.135, 0.55), tiers: [] },
    ],
  }),
  row({
    id: 'ovr-azure',
    source: 'override',
    priority: 100,
    provider: 'azure',
    match: { equals: 'my-gpt4o-deploy' },
    rates: rates(2, 8),
  }),
  row({
    id: 'ovr-sonnet-discount',
    source: 'override',
    priority: 100,
    provider: 'anthropic',
    match: { starts_with: 'claude-sonnet-4-5' },
    rates: rates(0, 0),
    multiplier: 0.8,
    effectiveFrom: at('2026-06-01T00:00:00Z'),
  }),
]);

function run(over: Partial<RunEvent>): RunEvent {
  return {
    run_id: 'r',
    agent_id: 'a',
    team: 't',
    model: 'gpt-4o',
    provider: null,
    input_tokens: 0,
    output_tokens: 0,
    cache_read_tokens: null,
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
    started_at: at('2026-05-01T00:00:00Z'),
    finished_at: at('2026-05-01T00:00:01Z'),
    status: 'success',
    customer_id: null,
    feature: null,
    cost_centre: null,
    session_id: null,
    tool: null,
    parent_run_id: null,
    quality_score: null,
    tags: {},
    received_at: null,
    source: null,
    ...over,
  };
}

function priced(over: Partial<RunEvent>) {
  const outcome = card.price(run(over));
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.errors));
  return outcome.result;
}

describe(RateCardResolver.name, () => {
  it.each([
    // [case, run, expected costs in nano-USD {input, cacheRead, cacheWrite, output, total}, row]
    // 1,000 × $2.50/M = $0.0025; 500 × $10/M = $0.005
    [
      'openai plain',
      { model: 'gpt-4o', input_tokens: 1000, output_tokens: 500 },
      [2_500_000, 0, 0, 5_000_000, 7_500_000],
      'gpt-4o',
    ],
    // OpenAI counts cached inside prompt_tokens: 10,000 - 8,000 = 2,000 × $2.50/M = $0.005; 8,000 × $1.25/M = $0.01; 1,000 × $10/M = $0.01
    [
      'openai cached reads',
      { model: 'gpt-4o', input_tokens: 10_000, cache_read_tokens: 8000, output_tokens: 1000 },
      [5_000_000, 10_000_000, 0, 10_000_000, 25_000_000],
      'gpt-4o',
    ],
    [
      'openai dated alias',
      { model: 'gpt-4o-2024-08-06', provider: 'openai', input_tokens: 1000, output_tokens: 500 },
      [2_500_000, 0, 0, 5_000_000, 7_500_000],
      'gpt-4o',
    ],
    [
      'provider prefix',
      { model: 'openai/gpt-4o', input_tokens: 1000, output_tokens: 500 },
      [2_500_000, 0, 0, 5_000_000, 7_500_000],
      'gpt-4o',
    ],
    // 2,000 × $3/M = $0.006; 1,000 × $15/M = $0.015
    [
      'anthropic plain, dated',
      { model: 'claude-sonnet-4-5-20250929', input_tokens: 2000, output_tokens: 1000 },
      [6_000_000, 0, 0, 15_000_000, 21_000_000],
      'claude-sonnet-4-5',
    ],
    // Anthropic counts cache reads outside input_tokens: 500 × $3/M = $0.0015; 20,000 × $0.30/M = $0.006; 300 × $15/M = $0.0045
    [
      'anthropic cache reads',
      { model: 'claude-sonnet-4-5', input_tokens: 500, cache_read_tokens: 20_000, output_tokens: 300 },
      [1_500_000, 6_000_000, 0, 4_500_000, 12_000_000],
      'claude-sonnet-4-5',
    ],
    // 100 × $3/M = $0.0003; 6,000 × $3.75/M (5 min) = $0.0225 + 4,000 × $6/M (1 h) = $0.024; 200 × $15/M = $0.003
    [
      'anthropic cache writes 5m + 1h',
      {
        model: 'claude-sonnet-4-5',
        input_tokens: 100,
        cache_write_tokens: 10_000,
        cache_write_1h_tokens: 4000,
        output_tokens: 200,
      },
      [300_000, 0, 46_500_000, 3_000_000, 49_800_000],
      'claude-sonnet-4-5',
    ],
    // prompt 150,000 + 60,000 = 210,000 > 200k: the whole request at the long-context rates:
    // 150,000 × $6/M = $0.90; 60,000 × $0.60/M = $0.036; 2,000 × $22.50/M = $0.045
    [
      'anthropic long context',
      { model: 'claude-sonnet-4-5', input_tokens: 150_000, cache_read_tokens: 60_000, output_tokens: 2000 },
      [900_000_000, 36_000_000, 0, 45_000_000, 981_000_000],
      'claude-sonnet-4-5',
    ],
    // exactly 200,000 is not above the threshold: 200,000 × $3/M = $0.60; 1,000 × $15/M = $0.015
    [
      'anthropic at the threshold',
      { model: 'claude-sonnet-4-5', input_tokens: 200_000, output_tokens: 1000 },
      [600_000_000, 0, 0, 15_000_000, 615_000_000],
      'claude-sonnet-4-5',
    ],
    // Google counts cached inside: (50,000 - 40,000) × $1.25/M = $0.0125; 40,000 × $0.125/M = $0.005; 5,000 × $10/M = $0.05
    [
      'google cached',
      { model: 'gemini-2.5-pro', input_tokens: 50_000, cache_read_tokens: 40_000, output_tokens: 5000 },
      [12_500_000, 5_000_000, 0, 50_000_000, 67_500_000],
      'gemini-2.5-pro',
    ],
    // 300,000 > 200k: 300,000 × $2.50/M = $0.75; 1,000 × $15/M = $0.015
    [
      'google long context',
      { model: 'gemini-2.5-pro-preview-06-05', input_tokens: 300_000, output_tokens: 1000 },
      [750_000_000, 0, 0, 15_000_000, 765_000_000],
      'gemini-2.5-pro',
    ],
    // before the change on 2026-03-15: 100,000 × $0.15/M = $0.015; 10,000 × $0.60/M = $0.006
    [
      'price change: before',
      {
        model: 'gpt-4o-mini',
        input_tokens: 100_000,
        output_tokens: 10_000,
        finished_at: at('2026-03-10T12:00:00Z'),
      },
      [15_000_000, 0, 0, 6_000_000, 21_000_000],
      'gpt-4o-mini@2020',
    ],
    // after: 100,000 × $0.10/M = $0.01; 10,000 × $0.40/M = $0.004
    [
      'price change: after',
      {
        model: 'gpt-4o-mini',
        input_tokens: 100_000,
        output_tokens: 10_000,
        finished_at: at('2026-03-20T12:00:00Z'),
      },
      [10_000_000, 0, 0, 4_000_000, 14_000_000],
      'gpt-4o-mini@2026-03-15',
    ],
    // override for an Azure deployment name: 1,000 × $2/M = $0.002; 1,000 × $8/M = $0.008
    [
      'azure deployment override',
      { model: 'my-gpt4o-deploy', provider: 'azure', input_tokens: 1000, output_tokens: 1000 },
      [2_000_000, 0, 0, 8_000_000, 10_000_000],
      'ovr-azure',
    ],
    // negotiated 20% discount from 2026-06-01: 2,000 × $2.40/M = $0.0048; 1,000 × $12/M = $0.012
    [
      'discount override',
      {
        model: 'claude-sonnet-4-5',
        input_tokens: 2000,
        output_tokens: 1000,
        finished_at: at('2026-06-10T00:00:00Z'),
      },
      [4_800_000, 0, 0, 12_000_000, 16_800_000],
      'ovr-sonnet-discount',
    ],
    // 3 × $0.0375/M = 112.5 nano-USD, rounded half up
    [
      'rounding',
      { model: 'cheap-embed', provider: 'openai', input_tokens: 3, output_tokens: 0 },
      [113, 0, 0, 0, 113],
      'cheap-embed',
    ],
  ] as const)('%s', (_name, over, [input, cacheRead, cacheWrite, output, total], rowId) => {
    const sut = priced(over as Partial<RunEvent>);
    expect(sut.status).toBe('priced');
    expect(sut.costs).toEqual({ input, cacheRead, cacheWrite, output, total });
    expect(sut.row?.id).toBe(rowId);
  });

  it('labels the long-context tier', () => {
    expect(priced({ model: 'claude-sonnet-4-5', input_tokens: 250_000, output_tokens: 1 }).tier).toBe(
      '>200k',
    );
    expect(priced({ model: 'claude-sonnet-4-5', input_tokens: 2_000, output_tokens: 1 }).tier).toBeNull();
  });

  it('keeps an unknown model, unpriced, with its tokens, never as a silent $0 price', () => {
    const sut = priced({ model: 'llama-9-700b', input_tokens: 100, output_tokens: 10 });
    expect(sut).toMatchObject({
      status: 'unpriced',
      provider: 'unknown',
      row: null,
      reason: 'unknown_provider',
    });
    expect(sut.tokens.uncachedInput).toBe(100);
  });

  it('prices a run without tokens at 0 with no rate, whatever its model (an agent-level run)', () => {
    const sut = priced({ model: 'agent', provider: 'burnrate', input_tokens: 0, output_tokens: 0 });
    expect(sut).toMatchObject({ status: 'priced', row: null, reason: null, tier: null });
    expect(sut.costs).toEqual({ input: 0, cacheRead: 0, cacheWrite: 0, output: 0, total: 0 });
    expect(
      priced({
        model: 'agent',
        provider: 'burnrate',
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: 0,
      }),
    ).toMatchObject({ status: 'priced' });
    // One token of any kind needs a rate again.
    expect(
      priced({
        model: 'agent',
        provider: 'burnrate',
        input_tokens: 1,
        output_tokens: 0,
        cache_read_tokens: 1,
      }),
    ).toMatchObject({ status: 'unpriced', reason: 'unknown_provider' });
    expect(priced({ model: 'llama-9-700b', input_tokens: 0, output_tokens: 1 }).status).toBe('unpriced');
    // A priced model keeps its row, at 0.
    expect(priced({ model: 'gpt-4o', input_tokens: 0, output_tokens: 0 })).toMatchObject({
      status: 'priced',
      row: { id: 'gpt-4o' },
      costs: { total: 0 },
    });
  });

  it('tells an unknown model of a known provider from an unknown provider', () => {
    expect(priced({ model: 'gpt-77', provider: 'openai', input_tokens: 1, output_tokens: 1 })).toMatchObject({
      status: 'unpriced',
      provider: 'openai',
      reason: 'unknown_model',
    });
  });

  it('says no_price_at_date for a model the card has, but not at that instant', () => {
    const late = new RateCardResolver([
      row({
        id: 'gpt-4o',
        provider: 'openai',
        match: { equals: 'gpt-4o' },
        rates: rates(2.5, 10),
        effectiveFrom: at('2026-06-01T00:00:00Z'),
      }),
    ]);
    const outcome = late.price(run({ model: 'gpt-4o', input_tokens: 1, output_tokens: 1 }));
    expect(outcome.ok && outcome.result).toMatchObject({ status: 'unpriced', reason: 'no_price_at_date' });
  });

  it.each([
    // peak, before the new price: 1,000,000 × $0.27/M; 1,000,000 × $1.10/M
    ['2026-05-01T12:00:00Z', 270_000_000 + 1_100_000_000],
    // off-peak wraps midnight: 23:00 and 00:10 are off-peak, 00:30 is not
    ['2026-05-01T23:00:00Z', 135_000_000 + 550_000_000],
    ['2026-05-02T00:10:00Z', 135_000_000 + 550_000_000],
    ['2026-05-02T00:30:00Z', 270_000_000 + 1_100_000_000],
    // after 2026-08-17 the new peak price; off-peak still wins in its hours (it is later in the list)
    ['2026-09-01T12:00:00Z', 280_000_000 + 420_000_000],
    ['2026-09-01T17:00:00Z', 135_000_000 + 550_000_000],
  ])('prices by the time of day and date as the dataset lists them: %s', (iso, total) => {
    const sut = priced({
      model: 'deepseek-chat',
      input_tokens: 1_000_000,
      output_tokens: 1_000_000,
      finished_at: at(iso),
    });
    expect(sut.costs.total).toBe(total);
  });

  it('rounds the total once, and its parts add up to it', () => {
    // 1 × $0.0375/M = 37.5 nano each for input and output would round to 38 + 38 = 76; the exact total is 75
    const card2 = new RateCardResolver([
      row({ id: 'gpt-4o', provider: 'openai', match: { equals: 'gpt-4o' }, rates: rates(0.0375, 0.0375) }),
    ]);
    const outcome = card2.price(run({ model: 'gpt-4o', input_tokens: 1, output_tokens: 1 }));
    if (!outcome.ok) throw new Error('refused');
    const c = outcome.result.costs;
    expect(c.total).toBe(75);
    expect(c.input + c.cacheRead + c.cacheWrite + c.output).toBe(c.total);
  });

  it('refuses OpenAI-style counts whose cached tokens exceed the prompt (the double-count bug)', () => {
    const sut = card.price(
      run({ model: 'gpt-4o', input_tokens: 100, cache_read_tokens: 800, output_tokens: 1 }),
    );
    expect(sut.ok).toBe(false);
    if (!sut.ok) expect(sut.errors[0].field).toBe('cache_read_tokens');
  });
});
