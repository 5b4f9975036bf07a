import type { ModelInfo, Provider } from '@pydantic/genai-prices';
import { matchDataset, type DatasetMatch } from './dataset';
import type { MatchLogic, RateRow } from './rate-card';
import type { RateCardResolver, UnpricedWhy } from './rate-card-resolver';

/** Why a listed model is unpriced; `priced_now`: the card has since learned its price at the runs' time. */
export type UnpricedStatus = UnpricedWhy | 'priced_now';

/** A name the dataset prices, with the provider to send it with. */
export interface ModelSuggestion {
  provider: string;
  model: string;
}

export interface UnpricedExplanation {
  reason: UnpricedStatus;
  /** One sentence for a person: what is wrong and what to do. */
  explanation: string;
  /** Up to three nearest known names (none when the name is known, or nothing is near). */
  suggestions: ModelSuggestion[];
}

/** A listed model as `unpriced_models` keeps it: the provider as pricing resolved it (or `unknown`), the run's model. */
export interface UnpricedSighting {
  provider: string;
  model: string;
  first_seen?: string | Date;
  last_seen: string | Date;
}

const MAX_SUGGESTIONS = 3;
const OVERRIDE_HINT = 'PUT /v1/rate-card/overrides/{id}';
const REPRICE_HINT = 'POST /v1/models/unpriced/reprice';

interface Candidate {
  provider: string;
  /** The model's key, to keep one name per model. */
  model: string;
  /** A name the model's match accepts (else its id), as the dataset writes it. */
  name: string;
  /** `name` lower-cased, for the distance. */
  key: string;
  /** What the distance is taken to: `key`, and its last part when it has a namespace (`meta-llama/…`). */
  keys: Keyed[];
}

/** A lower-cased name and its letters as a multiset (pairs of letter bucket and count). */
interface Keyed {
  text: string;
  bag: Uint8Array;
}

/**
 * Explains each unpriced model against the rate card and the price dataset in use: the card's reason at the model's
 * last run (`priced_now` when it prices it there today), one sentence, and the nearest names the dataset knows. The
 * candidate names are gathered once per explainer (build one per request); each answer is memoised by provider and
 * model.
 */
export function unpricedExplainer(
  providers: readonly Provider[],
  card: RateCardResolver,
  now: number = Date.now(),
): (seen: UnpricedSighting) => UnpricedExplanation {
  const byId = new Map(providers.map((p) => [p.id, p]));
  const perProvider = new Map<string, Candidate[]>();
  let everyone: Candidate[] | null = null;
  const providerNames = providerCandidates(providers);
  const memo = new Map<string, ModelSuggestion[]>();

  /** A provider's own models and those of the providers it falls back to (one level, as the library looks). */
  const candidatesOf = (id: string): Candidate[] => {
    let list = perProvider.get(id);
    if (!list) {
      const p = byId.get(id);
      list = [];
      if (p) {
        for (const m of p.models) list.push(...modelCandidates(id, p.id, m));
        for (const f of p.fallback_model_providers ?? [])
          for (const m of byId.get(f)?.models ?? []) list.push(...modelCandidates(id, f, m));
      }
      perProvider.set(id, list);
    }
    return list;
  };
  const allCandidates = (): Candidate[] =>
    (everyone ??= providers.flatMap((p) => p.models.flatMap((m) => modelCandidates(p.id, p.id, m))));

  /** The nearest names to `name` among `scope`'s candidates: one provider's (and its fallbacks'), or several. */
  const suggest = (name: string, scope: string[] | null, oneProvider: boolean): ModelSuggestion[] => {
    const key = `${oneProvider ? 1 : 0}\u0000${scope?.join(',') ?? '*'}\u0000${name}`;
    let found = memo.get(key);
    if (!found) {
      const pool = scope === null ? allCandidates() : scope.flatMap(candidatesOf);
      found = nearest(withTail(name), pool, oneProvider, byId);
      memo.set(key, found);
    }
    return found;
  };

  return (seen) => {
    const given = seen.provider === 'unknown' ? null : seen.provider;
    const match = matchDataset(seen.model, given);
    const last = new Date(seen.last_seen).getTime();
    const atLast = card.resolve(match, last);
    if (atLast.row !== null) {
      const first = seen.first_seen === undefined ? last : new Date(seen.first_seen).getTime();
      const from = atLast.row.effectiveFrom;
      const earlier = first < from ? ` (runs before ${day(from)} stay unpriced)` : '';
      return {
        reason: 'priced_now',
        explanation:
          `the rate card now prices ${label(match, atLast.row)} at ${day(last)}, its last run, but the runs arrived ` +
          `before it did: ${REPRICE_HINT} prices them${earlier}`,
        suggestions: [],
      };
    }
    const atNow = card.resolve(match, now);
    const known = atNow.row ?? (atLast.reason === 'no_price_at_date' ? latestRow(card, match) : null);
    if (known) {
      return {
        reason: 'no_price_at_date',
        explanation:
          `the rate card prices ${label(match, known)} ${spans(card, known)}, not at ${day(last)} when its last run ` +
          `finished: give it a price then with an override (${OVERRIDE_HINT}, effective_from)`,
        suggestions: [],
      };
    }

    if (atLast.reason === 'unknown_model' && match.ok) {
      // The dataset knows the model; the card has no row for it yet.
      return {
        reason: 'unknown_model',
        explanation:
          `the price dataset knows ${match.provider} ${match.modelId} but the rate card has no row for it yet: ` +
          `refresh the rate card (seed-rate-card), then ${REPRICE_HINT}`,
        suggestions: [],
      };
    }

    const name = match.name;
    if (atLast.reason === 'unknown_model') {
      const suggestions = suggest(name, [match.provider], true);
      return {
        reason: 'unknown_model',
        explanation: suggestions.length
          ? `${match.provider} has no model matching '${seen.model}'; did you mean ${orList(suggestions.map((s) => s.model))}?`
          : `${match.provider} has no model matching '${seen.model}' and none is near it: price it with an override (${OVERRIDE_HINT})`,
        suggestions,
      };
    }

    // unknown_provider
    if (given === null) {
      const suggestions = suggest(name, null, false);
      return {
        reason: 'unknown_provider',
        explanation:
          `no provider was given and none could be inferred from '${seen.model}': send \`provider\`` +
          (suggestions.length
            ? `, or did you mean ${orList(suggestions.map(named))}?`
            : ` or price it with an override (${OVERRIDE_HINT})`),
        suggestions,
      };
    }
    const near = nearestProviders(given.toLowerCase(), providerNames);
    // A typo'd provider: the run's model under the providers it was probably meant to name.
    const suggestions: ModelSuggestion[] = [];
    for (const p of near) {
      const under = matchDataset(seen.model, p);
      // The dataset's id when it names the model itself (not every id does: aws's regional.*), else the run's name.
      const self = under.ok ? matchDataset(under.modelId, p) : null;
      if (under.ok)
        suggestions.push({
          provider: p,
          model: self?.ok && self.modelId === under.modelId ? under.modelId : seen.model,
        });
    }
    if (suggestions.length === 0 && near.length) suggestions.push(...suggest(name, near, false));
    if (suggestions.length === 0) suggestions.push(...suggest(name, null, false));
    const top = suggestions.slice(0, MAX_SUGGESTIONS);
    return {
      reason: 'unknown_provider',
      explanation:
        `the price dataset has no provider '${given}'` +
        (near.length ? ` (did you mean ${orList(near)}?)` : '') +
        (top.length
          ? `; nearest known models: ${top.map(named).join(', ')}`
          : `: send a provider it knows, or price '${seen.model}' with an override (${OVERRIDE_HINT})`),
      suggestions: top,
    };
  };
}

const named = (s: ModelSuggestion): string => `${s.model} (${s.provider})`;

function orList(items: string[]): string {
  return items.length <= 1
    ? items.join('')
    : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function day(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function label(match: DatasetMatch, row: RateRow): string {
  if (row.source === 'override') return `'${match.name}' (override ${row.id.replace(/^override:/, '')})`;
  return match.ok ? `${match.provider} ${match.modelId}` : `${row.provider} ${row.modelId}`;
}

/** The card's newest row for a matched model, in force or not. */
function latestRow(card: RateCardResolver, match: DatasetMatch): RateRow | null {
  if (!match.ok) return null;
  let latest: RateRow | null = null;
  for (const r of card.rows)
    if (r.source !== 'override' && r.provider === match.owner && r.modelId === match.modelId)
      if (!latest || r.effectiveFrom > latest.effectiveFrom) latest = r;
  return latest;
}

/** When the card prices a row's model: its rows' periods, contiguous ones joined ("from … to …, from …"). */
function spans(card: RateCardResolver, row: RateRow): string {
  const same =
    row.source === 'override'
      ? [row]
      : card.rows.filter(
          (r) => r.source === row.source && r.provider === row.provider && r.modelId === row.modelId,
        );
  const sorted = [...same].sort((a, b) => a.effectiveFrom - b.effectiveFrom);
  const merged: [number, number | null][] = [];
  for (const r of sorted) {
    const top = merged[merged.length - 1];
    if (top && top[1] !== null && r.effectiveFrom <= top[1])
      top[1] = r.effectiveTo === null ? null : Math.max(top[1], r.effectiveTo);
    else if (!top || top[1] !== null) merged.push([r.effectiveFrom, r.effectiveTo]);
  }
  return merged.map(([f, t]) => `from ${day(f)}${t === null ? '' : ` to ${day(t)}`}`).join(', ');
}

/**
 * The names a model is known by: its id when its own match accepts it, and the `equals` and `starts_with` names of its
 * match (each of which the match accepts, outside an `and`); its id alone when it has none of these.
 */
function modelCandidates(provider: string, owner: string, m: ModelInfo): Candidate[] {
  const names = new Map<string, string>();
  const id = m.id.toLowerCase();
  if (accepts(m.match, id)) names.set(id, m.id);
  collectNames(m.match as MatchLogic, names);
  if (names.size === 0) names.set(id, m.id);
  const model = `${owner}\u0000${m.id}`;
  return [...names].map(([key, name]) => ({
    provider,
    model,
    name,
    key,
    keys: withTail(key).map((text) => ({ text, bag: bagOf(text) })),
  }));
}

function collectNames(logic: MatchLogic, into: Map<string, string>): void {
  if ('or' in logic) for (const l of logic.or) collectNames(l, into);
  else if ('equals' in logic) into.set(logic.equals.toLowerCase(), logic.equals);
  else if ('starts_with' in logic) into.set(logic.starts_with.toLowerCase(), logic.starts_with);
}

/** The library's matching: case-insensitive on strings, a regex on the lower-cased name. */
function accepts(logic: MatchLogic, name: string): boolean {
  if ('or' in logic) return logic.or.some((l) => accepts(l, name));
  if ('and' in logic) return logic.and.every((l) => accepts(l, name));
  if ('equals' in logic) return name === logic.equals.toLowerCase();
  if ('starts_with' in logic) return name.startsWith(logic.starts_with.toLowerCase());
  if ('ends_with' in logic) return name.endsWith(logic.ends_with.toLowerCase());
  if ('contains' in logic) return name.includes(logic.contains.toLowerCase());
  return regexOf(logic.regex)?.test(name) ?? false;
}

const regexes = new Map<string, RegExp | null>();
function regexOf(source: string): RegExp | null {
  let re = regexes.get(source);
  if (re === undefined) {
    try {
      re = new RegExp(source);
    } catch {
      re = null;
    }
    regexes.set(source, re);
  }
  return re;
}

/** A name, and its last part when it has a namespace or a provider prefix (`meta-llama/…`, `openai/…`). */
function withTail(name: string): string[] {
  const slash = name.lastIndexOf('/');
  return slash >= 0 && slash < name.length - 1 ? [name, name.slice(slash + 1)] : [name];
}

/** How far a name may be from a suggestion: two edits, or one in four letters. */
const cutoffFor = (name: string): number => Math.max(2, Math.ceil(name.length / 4));

/**
 * The nearest candidates to any of the queries, one name per model and per name, best first; ties go to the longer
 * common prefix. Across providers a name shared by several is suggested with the provider whose models it names.
 */
function nearest(
  queries: string[],
  candidates: Candidate[],
  oneProvider: boolean,
  byId: ReadonlyMap<string, Provider>,
): ModelSuggestion[] {
  const limit = Math.max(...queries.map(cutoffFor));
  const counts = queries.map(histogram);
  const scored: { c: Candidate; d: number; prefix: number; via: string }[] = [];
  for (const c of candidates) {
    let best = limit + 1;
    let prefix = 0;
    let via = c.key;
    for (let qi = 0; qi < queries.length; qi++) {
      const q = queries[qi];
      for (const { text: key, bag } of c.keys) {
        const cap = Math.min(limit, best);
        // Letters one has and the other lacks each cost an edit: a cheap bound that skips most names.
        if (Math.abs(q.length - key.length) > cap || unshared(counts[qi], q.length, bag, key.length) > cap)
          continue;
        const d = editDistance(q, key, cap);
        if (d > cap) continue;
        const p = commonPrefix(q, key);
        if (d < best || p > prefix) {
          best = d;
          prefix = p;
          via = key;
        }
      }
    }
    if (best <= limit) scored.push({ c, d: best, prefix, via });
  }
  scored.sort(
    (a, b) => a.d - b.d || b.prefix - a.prefix || a.c.key.length - b.c.key.length || cmp(a.c.key, b.c.key),
  );
  const out: ModelSuggestion[] = [];
  const models = new Set<string>();
  // One suggestion per name: a name several providers serve (gpt-4o; deepseek-chat and openrouter's
  // deepseek/deepseek-chat) goes with the provider whose own name it is, when the library's guess names one.
  const names = new Map<string, { s: ModelSuggestion; full: string }>();
  for (const { c, via } of scored) {
    if (models.has(c.model)) continue;
    const already = names.get(via);
    if (already) {
      if (
        !oneProvider &&
        already.s.provider !== c.provider &&
        (makerOf(via, byId) ?? already.s.provider) === c.provider &&
        c.key.length <= already.full.length
      ) {
        already.s.provider = c.provider;
        already.s.model = c.name;
        already.full = c.key;
      }
      models.add(c.model);
      continue;
    }
    if (out.length === MAX_SUGGESTIONS) break;
    models.add(c.model);
    const s = { provider: c.provider, model: c.name };
    names.set(via, { s, full: c.key });
    out.push(s);
  }
  return out;
}

/** The provider whose `model_match` claims the name (the library's own guess from a name alone). */
function makerOf(name: string, byId: ReadonlyMap<string, Provider>): string | null {
  for (const p of byId.values()) if (p.model_match && accepts(p.model_match as MatchLogic, name)) return p.id;
  return null;
}

/** Every word a provider is known by: its id, its name, and the plain strings its `provider_match` looks for. */
function providerCandidates(providers: readonly Provider[]): { id: string; key: string }[] {
  const out: { id: string; key: string }[] = [];
  for (const p of providers) {
    const keys = new Set([p.id.toLowerCase(), p.name.toLowerCase()]);
    const walk = (l: MatchLogic) => {
      if ('or' in l) l.or.forEach(walk);
      else if ('equals' in l) keys.add(l.equals.toLowerCase());
      else if ('starts_with' in l) keys.add(l.starts_with.toLowerCase());
      else if ('contains' in l) keys.add(l.contains.toLowerCase());
    };
    if (p.provider_match) walk(p.provider_match as MatchLogic);
    for (const key of keys) out.push({ id: p.id, key });
  }
  return out;
}

/** Providers whose id or name is within a typo of `given` (one edit, or one in four letters), nearest first. */
function nearestProviders(given: string, names: { id: string; key: string }[]): string[] {
  const limit = Math.max(1, Math.floor(given.length / 4));
  const best = new Map<string, number>();
  for (const { id, key } of names) {
    const d = editDistance(given, key, limit);
    if (d <= limit && d < (best.get(id) ?? Infinity)) best.set(id, d);
  }
  return [...best]
    .sort((a, b) => a[1] - b[1] || cmp(a[0], b[0]))
    .slice(0, MAX_SUGGESTIONS)
    .map(([id]) => id);
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A letter's bucket: a-z, 0-9, then a few separators, everything else together. */
function bucket(code: number): number {
  if (code >= 97 && code <= 122) return code - 97;
  if (code >= 48 && code <= 57) return code - 22;
  return code === 45 ? 36 : code === 46 ? 37 : code === 47 ? 38 : code === 58 ? 39 : code === 95 ? 40 : 41;
}
const BUCKETS = 42;

function histogram(s: string): Int32Array {
  const h = new Int32Array(BUCKETS);
  for (let i = 0; i < s.length; i++) h[bucket(s.charCodeAt(i))]++;
  return h;
}

function bagOf(s: string): Uint8Array {
  const h = histogram(s);
  const pairs: number[] = [];
  for (let b = 0; b < BUCKETS; b++) if (h[b] > 0) pairs.push(b, Math.min(h[b], 255));
  return Uint8Array.from(pairs);
}

/** max(|q|, |key|) − the letters they share (as multisets): no edit script is shorter. */
function unshared(q: Int32Array, qLength: number, bag: Uint8Array, keyLength: number): number {
  let shared = 0;
  for (let i = 0; i < bag.length; i += 2) {
    const have = q[bag[i]];
    shared += have < bag[i + 1] ? have : bag[i + 1];
  }
  return Math.max(qLength, keyLength) - shared;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

let buffer = new Int32Array(3 * 64);

/**
 * Damerau–Levenshtein distance (optimal string alignment: insertions, deletions, substitutions, adjacent
 * transpositions), or `max + 1` as soon as it must exceed `max`. Only the diagonal band `max` wide is computed.
 */
export function editDistance(a: string, b: string, max = Infinity): number {
  const m = a.length;
  const n = b.length;
  if (Math.abs(m - n) > max) return max + 1;
  if (a === b) return 0;
  const band = Math.min(max, Math.max(m, n));
  const far = band + 1;
  const w = n + 2;
  if (buffer.length < 3 * w) buffer = new Int32Array(6 * w);
  const d = buffer;
  // Three rows, rotated; a cell outside the band reads as `far`.
  for (let j = 0; j <= n; j++) d[j] = j;
  d[Math.min(n, band) + 1] = far;
  let prev2 = 2 * w;
  let prev = 0;
  let cur = w;
  for (let i = 1; i <= m; i++) {
    const lo = Math.max(1, i - band);
    const hi = Math.min(n, i + band);
    d[cur + lo - 1] = lo === 1 ? i : far;
    let rowMin = lo === 1 ? i : far;
    const ai = a.charCodeAt(i - 1);
    const aBefore = i > 1 ? a.charCodeAt(i - 2) : -1;
    let bBefore = lo > 1 ? b.charCodeAt(lo - 2) : -1;
    for (let j = lo; j <= hi; j++) {
      const bj = b.charCodeAt(j - 1);
      let v = d[prev + j - 1] + (ai === bj ? 0 : 1);
      const del = d[prev + j] + 1;
      if (del < v) v = del;
      const ins = d[cur + j - 1] + 1;
      if (ins < v) v = ins;
      if (ai === bBefore && aBefore === bj) {
        const t = d[prev2 + j - 2] + 1;
        if (t < v) v = t;
      }
      d[cur + j] = v;
      if (v < rowMin) rowMin = v;
      bBefore = bj;
    }
    if (hi < n) d[cur + hi + 1] = far;
    if (rowMin > max) return max + 1;
    const spare = prev2;
    prev2 = prev;
    prev = cur;
    cur = spare;
  }
  return Math.min(d[prev + n], max + 1);
}
