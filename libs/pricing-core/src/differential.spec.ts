import { calcPrice, type MatchLogic, type ModelInfo, type Provider } from '@pydantic/genai-prices';
import type { RunEvent } from '@libs/contracts';
import { runEvent } from '../../../test/support/fixtures';
import { datasetProviders } from './dataset';
import { rowsFromDataset } from './genai-import';
import { RateCardResolver } from './rate-card-resolver';

/**
 * The differential test of pricing: thousands of seeded random runs, across every provider and every model name of the
 * dataset, priced by burnrate and by the dataset's own `calcPrice`. Every run agrees within 1e-9 USD, or is a
 * documented difference listed below; a disagreement fails with the runs, both prices and both matches, so a
 * maintainer upgrading @pydantic/genai-prices can act on it.
 *
 * The runs state their tokens as each provider reports them (the providers' documented usage, written out here
 * independently of the code under test): the Anthropic API, Bedrock's Converse, MiniMax's Anthropic-compatible API,
 * Cursor's usage events, and Claude served by Vertex or Azure count cache reads and writes beside `input_tokens`;
 * everyone else inside it. calcPrice takes the whole prompt as `input_tokens`.
 */

const TOLERANCE_USD = 1e-9;

/** Differences the run contract makes on purpose: a price the library charges that a run cannot carry. */
const DOCUMENTED: { why: string; applies: (prices: Record<string, unknown>) => boolean }[] = [
  {
    why: "a per-request fee (requests_kcount: Perplexity's sonar family): the run contract prices tokens only",
    applies: (p) => p.requests_kcount !== undefined,
  },
  {
    why: 'a per-message price (input_text_messages_kcount: xAI voice): the run contract prices tokens only',
    applies: (p) => p.input_text_messages_kcount !== undefined,
  },
];

function reportsCacheBesideInput(provider: string, modelId: string): boolean {
  return (
    ['anthropic', 'aws', 'minimax', 'cursor'].includes(provider) ||
    (/claude/.test(modelId) && ['google', 'azure'].includes(provider))
  );
}

/** mulberry32: a small seeded generator, so every run of the test prices the same runs. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Names a model's match accepts, as runs would send them: its exact names and its prefixes, dated or not. */
function namesFor(model: ModelInfo): string[] {
  const names: string[] = [];
  const walk = (m: MatchLogic): void => {
    if ('or' in m) m.or.forEach(walk);
    else if ('and' in m) m.and.forEach(walk);
    else if ('equals' in m) names.push(m.equals);
    else if ('starts_with' in m)
      names.push(m.starts_with, `${m.starts_with}-2025-06-01`, `${m.starts_with}-20250601`);
    else if ('contains' in m) names.push(m.contains);
  };
  walk(model.match);
  names.push(model.id);
  return [...new Set(names)];
}

interface Case {
  provider: string | null;
  model: string;
  prompt: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWrite1h: number;
  output: number;
  at: number;
}

const FROM = Date.UTC(2024, 5, 1);
const TO = Date.UTC(2026, 11, 31);

function cases(providers: Provider[], seed: number): Case[] {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const tokens = (): Omit<Case, 'provider' | 'model'> => {
    // prompts from a few tokens to past every long-context tier (128k, 200k, 272k)
    const prompt = Math.floor(rnd() < 0.25 ? rnd() * 400_000 : rnd() * 20_000);
    const cacheRead = rnd() < 0.5 ? Math.floor(rnd() * prompt * 0.8) : 0;
    const cacheWrite = rnd() < 0.3 ? Math.floor(rnd() * (prompt - cacheRead)) : 0;
    const cacheWrite1h = rnd() < 0.3 ? Math.floor(rnd() * cacheWrite) : 0;
    const output = Math.floor(rnd() * 8000);
    return {
      prompt,
      cacheRead,
      cacheWrite,
      cacheWrite1h,
      output,
      at: FROM + Math.floor(rnd() * (TO - FROM)),
    };
  };
  const out: Case[] = [];
  // A sweep: every model name of every provider, with its provider named.
  for (const p of providers)
    for (const m of p.models)
      for (const name of namesFor(m)) out.push({ provider: p.id, model: name, ...tokens() });
  // The ways runs name models in the wild, at random.
  const byId = (id: string) => providers.find((p) => p.id === id)!;
  const claudeOnBedrock = byId('aws').models.filter((m) => /anthropic\.claude/.test(m.id));
  const openai = byId('openai').models;
  const shapes: (() => Pick<Case, 'provider' | 'model'>)[] = [
    () => ({
      provider: pick(['aws', 'bedrock', 'aws-bedrock']),
      model: `${pick(['global.', 'us.', 'eu.', 'apac.', 'au.', 'jp.', ''])}${pick(claudeOnBedrock).id.replace(/^(global|regional)\./, '')}`,
    }),
    () => ({ provider: 'aws', model: pick(byId('aws').models).id }),
    () => ({ provider: pick(['azure', 'azure-openai']), model: pick(namesFor(pick(openai))) }),
    () => ({
      provider: 'azure',
      model: pick(['grok-3', 'deepseek-r1', 'davinci', 'gpt-4o', 'claude-sonnet-4-5']),
    }),
    () => ({
      provider: pick(['google', 'vertex', 'vertex-ai', 'gemini']),
      model: pick(namesFor(pick(byId('google').models))),
    }),
    () => ({ provider: 'groq', model: pick(byId('groq').models).id }),
    () => ({ provider: 'openrouter', model: pick(byId('openrouter').models).id }),
    () => ({
      provider: null,
      model: `${pick(['openai', 'anthropic', 'google', 'mistral', 'qwen', 'meta-llama'])}/${pick(namesFor(pick([...openai, ...byId('anthropic').models])))}`,
    }),
    () => ({
      provider: pick(['openai', null]),
      model: `ft:${pick(['gpt-4o-mini-2024-07-18', 'gpt-4.1-2025-04-14', 'gpt-3.5-turbo-0125'])}:acme::${Math.floor(rnd() * 1e6).toString(36)}`,
    }),
    () => ({
      provider: null,
      model: pick(
        namesFor(
          pick([
            ...openai,
            ...byId('anthropic').models,
            ...byId('google').models,
            ...byId('deepseek').models,
            ...byId('mistral').models,
          ]),
        ),
      ),
    }),
    () => ({ provider: pick(['deepseek', null]), model: pick(byId('deepseek').models).id }),
    () => ({
      provider: pick(['anthropic', null]),
      model: `${pick(byId('anthropic').models).id}-${pick(['20250929', '20241022', '2025-09-29'])}`,
    }),
    () => ({
      provider: pick(['openai', 'self-hosted', null]),
      model: pick(['gpt-77', 'llama-9-700b', 'text-embedding-3-small', 'text-embedding-3-large']),
    }),
  ];
  for (let i = 0; i < 4000; i++) out.push({ ...pick(shapes)(), ...tokens() });
  return out;
}

function runOf(c: Case, modelIdForConvention: string, servedBy: string): RunEvent {
  const beside = reportsCacheBesideInput(servedBy, modelIdForConvention);
  return runEvent({
    model: c.model,
    provider: c.provider,
    input_tokens: beside ? c.prompt - c.cacheRead - c.cacheWrite : c.prompt,
    output_tokens: c.output,
    cache_read_tokens: c.cacheRead,
    cache_write_tokens: c.cacheWrite,
    cache_write_1h_tokens: c.cacheWrite1h,
    finished_at: c.at,
  });
}

describe('pricing, differentially against @pydantic/genai-prices calcPrice', () => {
  let providers: Provider[];
  let card: RateCardResolver;
  beforeAll(async () => {
    providers = await datasetProviders();
    card = new RateCardResolver(rowsFromDataset(providers, 'differential'));
  });

  it('prices every run as the dataset does, within 1e-9 USD', () => {
    const all = cases(providers, 20261201);
    const disagreements: string[] = [];
    const documented = new Map<string, number>();
    let agreed = 0;
    let priced = 0;
    for (const c of all) {
      let theirs: ReturnType<typeof calcPrice> | Error;
      try {
        theirs = calcPrice(
          {
            input_tokens: c.prompt,
            cache_read_tokens: c.cacheRead,
            cache_write_tokens: c.cacheWrite,
            cache_write_1h_tokens: c.cacheWrite1h,
            output_tokens: c.output,
          },
          c.model,
          { providerId: c.provider ?? 'litellm', timestamp: new Date(c.at) },
        );
      } catch (err) {
        theirs = err as Error;
      }
      const run = runOf(
        c,
        theirs && !(theirs instanceof Error) ? theirs.model.id : c.model,
        theirs && !(theirs instanceof Error) ? theirs.provider.id : (c.provider ?? ''),
      );
      const ours = card.price(run);
      const oursUsd = ours.ok && ours.result.status === 'priced' ? ours.result.costs.total / 1e9 : null;
      const theirsUsd = theirs && !(theirs instanceof Error) ? theirs.total_price : null;
      if (theirsUsd !== null) priced++;
      const note =
        theirs && !(theirs instanceof Error)
          ? DOCUMENTED.find((d) => d.applies(theirs.model_price as Record<string, unknown>))
          : undefined;
      if (note && oursUsd !== theirsUsd) {
        documented.set(note.why, (documented.get(note.why) ?? 0) + 1);
        continue;
      }
      const same =
        oursUsd === null || theirsUsd === null
          ? oursUsd === theirsUsd
          : Math.abs(oursUsd - theirsUsd) <= TOLERANCE_USD + theirsUsd * 1e-12;
      if (same) {
        agreed++;
        continue;
      }
      disagreements.push(
        [
          `${c.provider ?? '(no provider)'} ${c.model} at ${new Date(c.at).toISOString()}`,
          `prompt ${c.prompt} (cache read ${c.cacheRead}, write ${c.cacheWrite}, of which 1h ${c.cacheWrite1h}), output ${c.output}`,
          `  burnrate: ${oursUsd === null ? (ours.ok ? `unpriced (${ours.result.reason})` : `refused: ${ours.errors.map((e) => e.message).join('; ')}`) : `$${oursUsd} by row ${ours.ok ? ours.result.row?.id : ''}`}`,
          `  calcPrice: ${theirs instanceof Error ? `threw: ${theirs.message}` : theirs ? `$${theirs.total_price} by ${theirs.provider.id}/${theirs.model.id}` : 'no match'}`,
        ].join('\n'),
      );
    }
    const share = agreed / all.length;
    // The figure the closing note quotes; printed so a maintainer sees it move after an upgrade.
    process.stdout.write(
      `differential: ${all.length} runs, ${priced} priced by calcPrice, ${agreed} agree (${(share * 100).toFixed(2)}%), ` +
        `${[...documented.values()].reduce((a, b) => a + b, 0)} documented differences, ${disagreements.length} disagreements\n`,
    );
    if (disagreements.length > 0)
      throw new Error(
        `${disagreements.length} of ${all.length} runs priced differently from @pydantic/genai-prices calcPrice ` +
          `(first 20 below). After upgrading the package, read its changelog: a new price key, unit or constraint ` +
          `type needs importing in genai-import.ts; a changed usage convention needs semanticsOf in dataset.ts.\n\n` +
          disagreements.slice(0, 20).join('\n\n'),
      );
    expect(priced).toBeGreaterThan(all.length * 0.8);
  });
});
