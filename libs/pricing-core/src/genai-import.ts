import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ConditionalPrice, ModelInfo, ModelPrice, Provider } from '@pydantic/genai-prices';
import { datasetProviders } from './dataset';
import {
  perMTok,
  type MatchLogic,
  type PriceVariant,
  type RateRow,
  type Rates,
  type Tier,
} from './rate-card';

/** Where a dataset row's history starts when it is first imported: before any run a team can have. */
export const DATASET_EPOCH = Date.UTC(2020, 0, 1);

interface Tiered {
  base: number;
  tiers: { start: number; price: number }[];
}

type Price = number | Tiered | undefined;

function base(v: Price): number | null {
  if (v === undefined) return null;
  return typeof v === 'number' ? v : v.base;
}

/**
 * The token rates and long-context tiers of one of the dataset's price entries. Every entry is kept: one without an
 * output price (embeddings) bills output at 0, one with no token price at all (priced per image, second or search only)
 * bills tokens at 0 — as the dataset itself prices them — and an absent cache price falls back in the resolver to the
 * input price, exactly as the library's usage arithmetic does.
 */
export function ratesOf(prices: ModelPrice): { rates: Rates; tiers: Tier[] } {
  const p = prices as Record<string, Price>;
  const rate = (v: Price): number | null => (base(v) === null ? null : perMTok(base(v)!));
  const rates: Rates = {
    input: rate(p.input_mtok) ?? 0,
    output: rate(p.output_mtok) ?? 0,
    cacheRead: rate(p.cache_read_mtok),
    cacheWrite: rate(p.cache_write_mtok),
    cacheWrite1h: rate(p.cache_write_1h_mtok),
  };
  const starts = new Set<number>();
  for (const v of Object.values(p))
    if (v && typeof v === 'object') for (const t of v.tiers) starts.add(t.start);
  const tiers: Tier[] = [...starts]
    .sort((a, b) => a - b)
    .map((start) => {
      const at = (v: Price, fallback: number | null): number | null => {
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
  return { rates, tiers };
}

/** "HH:MM:SS[.fff](Z|±HH:MM)" as seconds after UTC midnight, as the dataset writes its time-of-day prices. */
export function timeOfDaySeconds(value: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(value);
  if (!m) throw new Error(`invalid time of day in the price dataset: ${value}`);
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(`0.${m[4] ?? '0'}`);
  const offset = m[5] === 'Z' ? 0 : (m[6] === '+' ? 1 : -1) * (Number(m[7]) * 60 + Number(m[8])) * 60;
  return (local - offset + 86_400) % 86_400;
}

function variantOf(c: ConditionalPrice): PriceVariant | null {
  const { rates, tiers } = ratesOf(c.prices);
  const k = c.constraint;
  if (!k) return null;
  if (k.type === 'start_date') return { when: { startDate: Date.parse(k.start_date) }, rates, tiers };
  return {
    when: { timeOfDay: [timeOfDaySeconds(k.start_time), timeOfDaySeconds(k.end_time)] },
    rates,
    tiers,
  };
}

/** One rate card row per model: its unconditional price, and its conditional ones in the dataset's order. */
export function rowForModel(
  provider: string,
  model: ModelInfo,
  version: string,
  from = DATASET_EPOCH,
): RateRow {
  const entries: ConditionalPrice[] = Array.isArray(model.prices) ? model.prices : [{ prices: model.prices }];
  const { rates, tiers } = ratesOf(entries[0].prices);
  return {
    id: datasetRowId(provider, model.id, from),
    source: 'genai-prices',
    provider,
    modelId: model.id,
    match: model.match as MatchLogic,
    priority: 0,
    effectiveFrom: from,
    effectiveTo: null,
    currency: 'USD',
    rates,
    tiers,
    variants: entries
      .slice(1)
      .map(variantOf)
      .filter((v): v is PriceVariant => v !== null),
    multiplier: null,
    version,
  };
}

/** The first import of a model is `genai:<provider>:<model>`; a later price list for it is `…@<date it took over>`. */
export function datasetRowId(provider: string, modelId: string, from: number): string {
  return from === DATASET_EPOCH
    ? `genai:${provider}:${modelId}`
    : `genai:${provider}:${modelId}@${new Date(from).toISOString()}`;
}

/** Every model of every provider in the dataset, as rate card rows in force from `from`. */
export function rowsFromDataset(providers: Provider[], version: string, from = DATASET_EPOCH): RateRow[] {
  const rows: RateRow[] = [];
  for (const provider of providers)
    for (const model of provider.models) rows.push(rowForModel(provider.id, model, version, from));
  return rows;
}

/** The rate card the dataset in use gives on its own, as a fresh installation seeds it. */
export async function datasetRows(version = genaiPricesVersion()): Promise<RateRow[]> {
  return rowsFromDataset(await datasetProviders(), version);
}

export function genaiPricesVersion(): string {
  // The package's exports hide package.json; read it beside the resolved entry point.
  const entry = require.resolve('@pydantic/genai-prices');
  const pkg = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return `genai-prices@${pkg.version}`;
}
