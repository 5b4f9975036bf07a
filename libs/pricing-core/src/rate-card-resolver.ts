import type { FieldError, RunEvent } from '@libs/contracts';
import { matchDataset, type DatasetMatch, type UnpricedReason } from './dataset';
import { normaliseTokens, type NormalisedTokens, type TokenSemantics } from './normalize';
import { matches, type RateRow, type Rates, type Tier } from './rate-card';

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
  /** Why an unpriced run has no price; null when priced. */
  reason: UnpricedWhy | null;
}

/** unknown_provider and unknown_model are the dataset's word; no_price_at_date means the card has the model, not then. */
export type UnpricedWhy = UnpricedReason | 'no_price_at_date';

export type PriceOutcome = { ok: true; result: PriceResult } | { ok: false; errors: FieldError[] };

const ZERO: Costs = { input: 0, cacheRead: 0, cacheWrite: 0, output: 0, total: 0 };
const MILLION = 1_000_000n;
const HALF = 500_000n;

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

const inForce = (row: RateRow, at: number): boolean =>
  at >= row.effectiveFrom && (row.effectiveTo === null || at < row.effectiveTo);

/** The dataset's choice among a row's prices at an instant: the last conditional price that holds, else its own. */
function pricesAt(row: RateRow, at: number): { rates: Rates; tiers: Tier[] } {
  for (let i = row.variants.length - 1; i >= 0; i--) {
    const v = row.variants[i];
    if ('startDate' in v.when) {
      if (at >= v.when.startDate) return v;
    } else {
      const [start, end] = v.when.timeOfDay;
      const s = (((at % 86_400_000) + 86_400_000) % 86_400_000) / 1000;
      if (end < start ? s >= start || s < end : s >= start && s < end) return v;
    }
  }
  return row;
}

/** An unknown model's token convention: Claude's wherever it runs, everyone else's with cached tokens inside. */
function semanticsFor(match: DatasetMatch): TokenSemantics {
  if (match.ok) return match.semantics;
  return /claude/.test(match.name) ? 'cached-outside-input' : 'cached-inside-input';
}

/**
 * The rate card in force. A run's provider and model are matched by the price dataset's own functions
 * (`matchDataset`); the card then gives that model's row valid at the run's finished_at — operator overrides before the
 * dataset — and prices each token component in integer nano-units. A price change therefore never rewrites history,
 * and a backfilled run is priced at the rate of its own day.
 */
export class RateCardResolver {
  /** Dataset rows by (owner provider, model id), newest first. */
  private readonly dataset = new Map<string, RateRow[]>();
  /** Overrides by the provider they name, highest priority first. */
  private readonly overrides = new Map<string, RateRow[]>();

  constructor(readonly rows: readonly RateRow[]) {
    for (const row of rows) {
      const [map, key] =
        row.source === 'override'
          ? [this.overrides, row.provider]
          : [this.dataset, `${row.provider}\u0000${row.modelId}`];
      const list = map.get(key) ?? [];
      list.push(row);
      map.set(key, list);
    }
    for (const list of this.overrides.values()) list.sort((a, b) => b.priority - a.priority);
    for (const list of this.dataset.values()) list.sort((a, b) => b.effectiveFrom - a.effectiveFrom);
  }

  /** The dataset's row for a matched model at an instant. */
  private datasetRow(match: DatasetMatch, at: number): RateRow | null {
    if (!match.ok) return null;
    return (
      (this.dataset.get(`${match.owner}\u0000${match.modelId}`) ?? []).find((r) => inForce(r, at)) ?? null
    );
  }

  /** The row (and its effective rates) for a matched model at an instant, or why there is none. */
  resolve(
    match: DatasetMatch,
    at: number,
  ): { row: RateRow; rates: Rates; tiers: Tier[] } | { row: null; reason: UnpricedWhy } {
    const providers =
      match.ok && match.owner !== match.provider ? [match.provider, match.owner] : [match.provider];
    for (const p of providers) {
      for (const row of this.overrides.get(p) ?? []) {
        if (!inForce(row, at)) continue;
        if (!matches(row.match, match.name) && !(match.ok && matches(row.match, match.modelId))) continue;
        if (row.multiplier !== null) {
          const base = this.datasetRow(match, at);
          if (!base) continue;
          const { rates, tiers } = pricesAt(base, at);
          return {
            row,
            rates: scale(rates, row.multiplier),
            tiers: tiers.map((t) => ({ above: t.above, rates: scale(t.rates, row.multiplier!) })),
          };
        }
        return { row, rates: row.rates, tiers: row.tiers };
      }
    }
    if (!match.ok) return { row: null, reason: match.reason };
    const row = this.datasetRow(match, at);
    if (!row) {
      const known = this.dataset.has(`${match.owner}\u0000${match.modelId}`);
      return { row: null, reason: known ? 'no_price_at_date' : 'unknown_model' };
    }
    return { row, ...pricesAt(row, at) };
  }

  /** The row that prices `model` (as a run names it, with its provider or none) at an instant. */
  rowFor(model: string, provider: string | null, at: number): RateRow | null {
    return this.resolve(matchDataset(model, provider), at).row;
  }

  price(run: RunEvent): PriceOutcome {
    const match = matchDataset(run.model, run.provider);
    const normalised = normaliseTokens(run, semanticsFor(match));
    if (!normalised.ok) return normalised;
    return { ok: true, result: this.priceMatched(match, normalised.tokens, run.finished_at) };
  }

  /** Prices already-normalised token parts of a stored run (its model and provider as stored) at an instant. */
  priceTokens(model: string, provider: string | null, tokens: NormalisedTokens, at: number): PriceResult {
    return this.priceMatched(matchDataset(model, provider), tokens, at);
  }

  private priceMatched(match: DatasetMatch, tokens: NormalisedTokens, at: number): PriceResult {
    const found = this.resolve(match, at);
    // No tokens cost nothing under any card, so such a run (an SDK's agent-level run, model `agent`) needs no rate.
    if (found.row === null && isTokenless(tokens))
      return {
        status: 'priced',
        provider: match.provider,
        model: match.name,
        currency: 'USD',
        tokens,
        costs: ZERO,
        row: null,
        tier: null,
        reason: null,
      };
    if (found.row === null)
      return {
        status: 'unpriced',
        provider: match.provider,
        model: match.name,
        currency: 'USD',
        tokens,
        costs: ZERO,
        row: null,
        tier: null,
        reason: found.reason,
      };
    let { rates } = found;
    let tier: string | null = null;
    for (const t of found.tiers) {
      if (tokens.prompt > t.above) {
        rates = t.rates;
        tier = `>${t.above >= 1000 ? `${t.above / 1000}k` : t.above}`;
      }
    }
    return {
      status: 'priced',
      provider: match.provider,
      model: match.name,
      currency: found.row.currency,
      tokens,
      costs: costsOf(tokens, rates),
      row: found.row,
      tier,
      reason: null,
    };
  }
}

const isTokenless = (t: NormalisedTokens): boolean =>
  t.uncachedInput === 0 &&
  t.cacheRead === 0 &&
  t.cacheWrite5m === 0 &&
  t.cacheWrite1h === 0 &&
  t.output === 0;

/**
 * tokens × (nano-units per million tokens) / 1e6 per component, exactly (the products pass 2^53). The total is the
 * exact sum rounded once, half up, so it is within half a nano-unit of the true price; each component is rounded on its
 * own and the output component absorbs the one or two nano-units by which their sum differs from the total, so the
 * parts always add up to it.
 */
export function costsOf(tokens: NormalisedTokens, rates: Rates): Costs {
  const writeRate = rates.cacheWrite ?? rates.input;
  const exact = {
    input: BigInt(tokens.uncachedInput) * BigInt(rates.input),
    cacheRead: BigInt(tokens.cacheRead) * BigInt(rates.cacheRead ?? rates.input),
    cacheWrite:
      BigInt(tokens.cacheWrite5m) * BigInt(writeRate) +
      BigInt(tokens.cacheWrite1h) * BigInt(rates.cacheWrite1h ?? writeRate),
    output: BigInt(tokens.output) * BigInt(rates.output),
  };
  const round = (v: bigint): number => Number((v + HALF) / MILLION);
  const total = round(exact.input + exact.cacheRead + exact.cacheWrite + exact.output);
  const input = round(exact.input);
  const cacheRead = round(exact.cacheRead);
  const cacheWrite = round(exact.cacheWrite);
  return { input, cacheRead, cacheWrite, output: total - input - cacheRead - cacheWrite, total };
}
