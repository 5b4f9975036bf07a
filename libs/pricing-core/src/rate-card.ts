/** Model-matching rules, as @pydantic/genai-prices writes them. */
export type MatchLogic =
  | { and: MatchLogic[] }
  | { or: MatchLogic[] }
  | { equals: string }
  | { starts_with: string }
  | { ends_with: string }
  | { contains: string }
  | { regex: string };

/** Per-token rates in nano-units of the currency per million tokens (so $3/MTok is 3_000_000_000): exact integers. */
export interface Rates {
  input: number;
  output: number;
  cacheRead: number | null;
  cacheWrite: number | null;
  cacheWrite1h: number | null;
}

export interface Tier {
  /** The tier applies when the request's prompt (uncached + cache read + cache write) exceeds this many tokens. */
  above: number;
  rates: Rates;
}

/**
 * One of a dataset row's conditional prices, in the dataset's order: from a date on, or within a time of day (UTC
 * seconds from midnight, end exclusive; it may wrap past midnight). The last one that holds wins; none, the row's own.
 */
export interface PriceVariant {
  when: { startDate: number } | { timeOfDay: [number, number] };
  rates: Rates;
  tiers: Tier[];
}

export interface RateRow {
  id: string;
  source: 'genai-prices' | 'override';
  provider: string;
  modelId: string;
  match: MatchLogic;
  /** Overrides outrank the dataset. */
  priority: number;
  /** Epoch ms, inclusive. */
  effectiveFrom: number;
  /** Epoch ms, exclusive; null while in force. */
  effectiveTo: number | null;
  currency: string;
  rates: Rates;
  tiers: Tier[];
  /** The dataset's conditional prices (a price change on a date, off-peak hours); empty for overrides. */
  variants: PriceVariant[];
  /** An override that discounts (or marks up) the dataset's row for the same model instead of giving its own rates. */
  multiplier: number | null;
  version: string;
}

export function matches(logic: MatchLogic, model: string): boolean {
  if ('and' in logic) return logic.and.every((l) => matches(l, model));
  if ('or' in logic) return logic.or.some((l) => matches(l, model));
  if ('equals' in logic) return model === logic.equals;
  if ('starts_with' in logic) return model.startsWith(logic.starts_with);
  if ('ends_with' in logic) return model.endsWith(logic.ends_with);
  if ('contains' in logic) return model.includes(logic.contains);
  if ('regex' in logic) return regexCache(logic.regex).test(model);
  return false;
}

const regexes = new Map<string, RegExp>();
function regexCache(source: string): RegExp {
  let re = regexes.get(source);
  if (!re) regexes.set(source, (re = new RegExp(source)));
  return re;
}

/** $ per million tokens (a decimal from a price sheet) to integer nano-units per million tokens. */
export function perMTok(dollars: number): number {
  return Math.round(dollars * 1e9);
}
