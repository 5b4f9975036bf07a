import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findProvider, type ModelInfo, type ModelPrice } from '@pydantic/genai-prices';
import { perMTok, type MatchLogic, type RateRow, type Rates, type Tier } from './rate-card';

/** Providers whose bundled prices seed the rate card. */
export const SEEDED_PROVIDERS = [
  'openai',
  'anthropic',
  'google',
  'azure',
  'aws',
  'mistral',
  'deepseek',
  'x-ai',
  'groq',
  'cohere',
];

const EPOCH = Date.UTC(2020, 0, 1);

interface Tiered {
  base: number;
  tiers: { start: number; price: number }[];
}

function base(v: number | Tiered | undefined): number | null {
  if (v === undefined) return null;
  return typeof v === 'number' ? v : v.base;
}

/** The rate card rows for one model: one per entry of its price history, each in force until the next begins. */
function rowsForModel(provider: string, model: ModelInfo, version: string): RateRow[] {
  const history: { from: number; prices: ModelPrice }[] = Array.isArray(model.prices)
    ? model.prices
        .filter((c) => !c.constraint || c.constraint.type === 'start_date')
        .map((c) => ({
          from:
            c.constraint && c.constraint.type === 'start_date' ? Date.parse(c.constraint.start_date) : EPOCH,
          prices: c.prices,
        }))
    : [{ from: EPOCH, prices: model.prices }];
  history.sort((a, b) => a.from - b.from);
  const rows: RateRow[] = [];
  history.forEach((h, i) => {
    const p = h.prices as Record<string, number | Tiered | undefined>;
    const input = base(p.input_mtok);
    const output = base(p.output_mtok);
    if (input === null || output === null) return; // not token-priced (images, audio seconds, searches only)
    const rates: Rates = {
      input: perMTok(input),
      output: perMTok(output),
      cacheRead: base(p.cache_read_mtok) === null ? null : perMTok(base(p.cache_read_mtok)!),
      cacheWrite: base(p.cache_write_mtok) === null ? null : perMTok(base(p.cache_write_mtok)!),
      cacheWrite1h: base(p.cache_write_1h_mtok) === null ? null : perMTok(base(p.cache_write_1h_mtok)!),
    };
    const starts = new Set<number>();
    for (const v of Object.values(p))
      if (v && typeof v === 'object') for (const t of (v as Tiered).tiers) starts.add(t.start);
    const tiers: Tier[] = [...starts]
      .sort((a, b) => a - b)
      .map((start) => {
        const at = (v: number | Tiered | undefined, fallback: number | null): number | null => {
          if (v === undefined) return fallback;
          if (typeof v === 'number') return perMTok(v);
          const applicable = v.tiers.filter((t) => t.start <= start).sort((a, b) => b.start - a.start)[0];
          return perMTok(applicable ? applicable.price : v.base);
        };
        return {
          above: start,
          rates: {
            input: at(p.input_mtok, rates.input)!,
            output: at(p.output_mtok, rates.output)!,
            cacheRead: at(p.cache_read_mtok, rates.cacheRead),
            cacheWrite: at(p.cache_write_mtok, rates.cacheWrite),
            cacheWrite1h: at(p.cache_write_1h_mtok, rates.cacheWrite1h),
          },
        };
      });
    const from = h.from;
    const to = history[i + 1]?.from ?? null;
    rows.push({
      id: `genai:${provider}:${model.id}:${new Date(from).toISOString().slice(0, 10)}`,
      source: 'genai-prices',
      provider,
      modelId: model.id,
      match: model.match as MatchLogic,
      priority: 0,
      effectiveFrom: from,
      effectiveTo: to,
      currency: 'USD',
      rates,
      tiers,
      multiplier: null,
      version,
    });
  });
  return rows;
}

/** Every token-priced model of the seeded providers, from the dataset bundled in @pydantic/genai-prices. */
export function rowsFromGenaiPrices(version = genaiPricesVersion()): RateRow[] {
  const rows: RateRow[] = [];
  for (const id of SEEDED_PROVIDERS) {
    const provider = findProvider({ providerId: id });
    if (!provider) continue;
    for (const model of provider.models) rows.push(...rowsForModel(id, model, version));
  }
  return rows;
}

export function genaiPricesVersion(): string {
  // The package's exports hide package.json; read it beside the resolved entry point.
  const entry = require.resolve('@pydantic/genai-prices');
  const pkg = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return `genai-prices@${pkg.version}`;
}
