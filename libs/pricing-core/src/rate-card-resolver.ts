import type { FieldError, RunEvent } from '@libs/contracts';
import { normaliseTokens, resolveProviderAndModel, tokenSemantics, type NormalisedTokens } from './normalize';
import { matches, type RateRow, type Rates } from './rate-card';

export interface Costs {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  output: number;
  total: number;
}

export interface PriceResult {
  status: 'priced' | 'unpriced';
  provider: string;
  model: string;
  currency: string;
  tokens: NormalisedTokens;
  costs: Costs;
  row: RateRow | null;
  tier: string | null;
}

export type PriceOutcome = { ok: true; result: PriceResult } | { ok: false; errors: FieldError[] };

const ZERO: Costs = { input: 0, cacheRead: 0, cacheWrite: 0, output: 0, total: 0 };
/** Azure serves OpenAI's models, Bedrock Anthropic's and others': when a provider has no row, look at these. */
const FALLBACK: Record<string, string[]> = {
  azure: ['openai'],
  aws: ['anthropic', 'mistral', 'cohere'],
  google: ['anthropic'],
};

/** tokens × (nano-units per million tokens) / 1e6, rounded half up, exactly (the product can pass 2^53). */
function cost(tokens: number, ratePerMTok: number): number {
  if (tokens === 0 || ratePerMTok === 0) return 0;
  return Number((BigInt(tokens) * BigInt(ratePerMTok) + 500_000n) / 1_000_000n);
}

function scale(rates: Rates, m: number): Rates {
  const s = (v: number | null): number | null => (v === null ? null : Math.round(v * m));
  return {
    input: s(rates.input)!,
    output: s(rates.output)!,
    cacheRead: s(rates.cacheRead),
    cacheWrite: s(rates.cacheWrite),
    cacheWrite1h: s(rates.cacheWrite1h),
  };
}

/**
 * The rate card in force: resolves a run's (provider, model) to the row valid at the run's finished_at — operator
 * overrides before the dataset — and prices each token component in integer nano-units. A price change therefore
 * never rewrites history, and a backfilled run is priced at the rate of its own day.
 */
export class RateCardResolver {
  private readonly byProvider = new Map<string, RateRow[]>();

  constructor(readonly rows: readonly RateRow[]) {
    for (const row of rows) {
      const list = this.byProvider.get(row.provider) ?? [];
      list.push(row);
      this.byProvider.set(row.provider, list);
    }
    for (const list of this.byProvider.values()) list.sort((a, b) => b.priority - a.priority);
  }

  private readonly matched = new Map<string, RateRow[]>();

  /**
   * A provider's rows whose model match accepts `model`, in priority order — remembered per (provider, model), since
   * a fleet uses a handful of models and matching (regexes included) is the costly part of pricing a run.
   */
  private matching(provider: string, model: string): RateRow[] {
    const key = `${provider}\u0000${model}`;
    let rows = this.matched.get(key);
    if (!rows) {
      rows = (this.byProvider.get(provider) ?? []).filter((row) => matches(row.match, model));
      if (this.matched.size >= 10_000) this.matched.clear();
      this.matched.set(key, rows);
    }
    return rows;
  }

  /** The row (and its effective rates) for a model at an instant, or null. */
  resolve(
    provider: string,
    model: string,
    at: number,
  ): { row: RateRow; rates: Rates; tiers: RateRow['tiers'] } | null {
    for (const p of [provider, ...(FALLBACK[provider] ?? [])]) {
      for (const row of this.matching(p, model)) {
        if (at < row.effectiveFrom || (row.effectiveTo !== null && at >= row.effectiveTo)) continue;
        if (row.multiplier !== null) {
          const base = this.resolveDataset(p, model, at);
          if (!base) continue;
          return {
            row,
            rates: scale(base.rates, row.multiplier),
            tiers: base.tiers.map((t) => ({ above: t.above, rates: scale(t.rates, row.multiplier!) })),
          };
        }
        return { row, rates: row.rates, tiers: row.tiers };
      }
    }
    return null;
  }

  private resolveDataset(provider: string, model: string, at: number): RateRow | null {
    for (const row of this.matching(provider, model)) {
      if (row.multiplier !== null || row.source === 'override') continue;
      if (at < row.effectiveFrom || (row.effectiveTo !== null && at >= row.effectiveTo)) continue;
      return row;
    }
    return null;
  }

  price(run: RunEvent): PriceOutcome {
    const { provider, model } = resolveProviderAndModel(run.model, run.provider);
    const normalised = normaliseTokens(run, tokenSemantics(provider, model));
    if (!normalised.ok) return normalised;
    return { ok: true, result: this.priceTokens(provider, model, normalised.tokens, run.finished_at) };
  }

  /** Prices already-normalised token parts for a resolved provider and model at an instant. */
  priceTokens(provider: string, model: string, tokens: NormalisedTokens, at: number): PriceResult {
    const found = this.resolve(provider, model, at);
    if (!found)
      return {
        status: 'unpriced',
        provider,
        model,
        currency: 'USD',
        tokens,
        costs: ZERO,
        row: null,
        tier: null,
      };
    let rates = found.rates;
    let tier: string | null = null;
    for (const t of found.tiers) {
      if (tokens.prompt > t.above) {
        rates = t.rates;
        tier = `>${t.above >= 1000 ? `${t.above / 1000}k` : t.above}`;
      }
    }
    const writeRate = rates.cacheWrite ?? rates.input;
    const costs = {
      input: cost(tokens.uncachedInput, rates.input),
      cacheRead: cost(tokens.cacheRead, rates.cacheRead ?? rates.input),
      cacheWrite:
        cost(tokens.cacheWrite5m, writeRate) + cost(tokens.cacheWrite1h, rates.cacheWrite1h ?? writeRate),
      output: cost(tokens.output, rates.output),
      total: 0,
    };
    costs.total = costs.input + costs.cacheRead + costs.cacheWrite + costs.output;
    return {
      status: 'priced',
      provider,
      model,
      currency: found.row.currency,
      tokens,
      costs,
      row: found.row,
      tier,
    };
  }
}
