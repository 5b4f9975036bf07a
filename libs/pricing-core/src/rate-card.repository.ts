import type { Pool } from 'pg';
import type { Provider } from '@pydantic/genai-prices';
import { datasetProviders } from './dataset';
import { genaiPricesVersion, rowForModel, rowsFromDataset } from './genai-import';
import type { MatchLogic, PriceVariant, RateRow, Rates, Tier } from './rate-card';

interface DbRow {
  id: string;
  source: RateRow['source'];
  provider: string;
  model_id: string;
  match: MatchLogic;
  priority: number;
  effective_from: Date;
  effective_to: Date | null;
  currency: string;
  input_rate: string;
  output_rate: string;
  cache_read_rate: string | null;
  cache_write_rate: string | null;
  cache_write_1h_rate: string | null;
  tiers: Tier[];
  variants: PriceVariant[];
  multiplier: string | null;
  version: string;
}

export interface OverrideInput {
  provider: string;
  /** Matches the model name (after provider prefixes are removed). */
  match: MatchLogic;
  model_id?: string;
  effective_from?: string;
  effective_to?: string | null;
  currency?: string;
  /** $ per million tokens. Omit them and give `multiplier` to discount the dataset's own row. */
  input_per_mtok?: number;
  output_per_mtok?: number;
  cache_read_per_mtok?: number | null;
  cache_write_per_mtok?: number | null;
  cache_write_1h_per_mtok?: number | null;
  multiplier?: number | null;
  note?: string;
}

export interface UnpricedModel {
  team: string;
  provider: string;
  model: string;
  runs: string;
  first_seen: string;
  last_seen: string;
}

const n = (v: string | null): number | null => (v === null ? null : Number(v));

function fromDb(r: DbRow): RateRow {
  const rates: Rates = {
    input: Number(r.input_rate),
    output: Number(r.output_rate),
    cacheRead: n(r.cache_read_rate),
    cacheWrite: n(r.cache_write_rate),
    cacheWrite1h: n(r.cache_write_1h_rate),
  };
  return {
    id: r.id,
    source: r.source,
    provider: r.provider,
    modelId: r.model_id,
    match: r.match,
    priority: r.priority,
    effectiveFrom: r.effective_from.getTime(),
    effectiveTo: r.effective_to ? r.effective_to.getTime() : null,
    currency: r.currency,
    rates,
    tiers: r.tiers,
    variants: r.variants,
    multiplier: n(r.multiplier),
    version: r.version,
  };
}

/** The rate card in PostgreSQL: the dataset's rows (refreshed from @pydantic/genai-prices) and operator overrides. */
export class RateCardRepository {
  constructor(private readonly pool: Pool) {}

  async load(): Promise<RateRow[]> {
    const { rows } = await this.pool.query<DbRow>('select * from rate_card order by priority desc, id');
    return rows.map(fromDb);
  }

  /**
   * A cheap fingerprint of the rows and of the stored dataset's version (rate_card_dataset); running pricing instances
   * reload when it changes.
   */
  async fingerprint(): Promise<string> {
    const { rows } = await this.pool.query<{ f: string }>(
      `select coalesce(max(updated_at)::text, '') || ':' || count(*) || ':' ||
         coalesce((select version from rate_card_dataset where id = 1), '') as f from rate_card`,
    );
    return rows[0].f;
  }

  async upsert(rows: RateRow[], note: string | null = null): Promise<number> {
    if (rows.length === 0) return 0;
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500);
        await client.query(
          `insert into rate_card (id, source, provider, model_id, match, priority, effective_from, effective_to, currency,
             input_rate, output_rate, cache_read_rate, cache_write_rate, cache_write_1h_rate, tiers, variants, multiplier, version, note)
           select * from jsonb_to_recordset($1::jsonb) as x(id text, source text, provider text, model_id text, match jsonb,
             priority int, effective_from timestamptz, effective_to timestamptz, currency text, input_rate bigint,
             output_rate bigint, cache_read_rate bigint, cache_write_rate bigint, cache_write_1h_rate bigint, tiers jsonb,
             variants jsonb, multiplier numeric, version text, note text)
           on conflict (id) do update set source = excluded.source, provider = excluded.provider, model_id = excluded.model_id,
             match = excluded.match, priority = excluded.priority, effective_from = excluded.effective_from,
             effective_to = excluded.effective_to, currency = excluded.currency, input_rate = excluded.input_rate,
             output_rate = excluded.output_rate, cache_read_rate = excluded.cache_read_rate,
             cache_write_rate = excluded.cache_write_rate, cache_write_1h_rate = excluded.cache_write_1h_rate,
             tiers = excluded.tiers, variants = excluded.variants, multiplier = excluded.multiplier, version = excluded.version, note = excluded.note,
             updated_at = now()
           where (rate_card.input_rate, rate_card.output_rate, rate_card.cache_read_rate, rate_card.cache_write_rate,
                  rate_card.cache_write_1h_rate, rate_card.tiers, rate_card.variants, rate_card.match, rate_card.effective_to, rate_card.multiplier)
             is distinct from (excluded.input_rate, excluded.output_rate, excluded.cache_read_rate, excluded.cache_write_rate,
                  excluded.cache_write_1h_rate, excluded.tiers, excluded.variants, excluded.match, excluded.effective_to, excluded.multiplier)`,
          [
            JSON.stringify(
              chunk.map((r) => ({
                id: r.id,
                source: r.source,
                provider: r.provider,
                model_id: r.modelId,
                match: r.match,
                priority: r.priority,
                effective_from: new Date(r.effectiveFrom).toISOString(),
                effective_to: r.effectiveTo === null ? null : new Date(r.effectiveTo).toISOString(),
                currency: r.currency,
                input_rate: r.rates.input,
                output_rate: r.rates.output,
                cache_read_rate: r.rates.cacheRead,
                cache_write_rate: r.rates.cacheWrite,
                cache_write_1h_rate: r.rates.cacheWrite1h,
                tiers: r.tiers,
                variants: r.variants,
                multiplier: r.multiplier,
                version: r.version,
                note,
              })),
            ),
          ],
        );
      }
      await client.query('commit');
      return rows.length;
    } catch (err) {
      await client.query('rollback');
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * Seeds or refreshes the dataset's rows from `providers` (default: the dataset the library uses), keeping history: a
   * model new to the card gets a row in force from the start; a model whose price list changed keeps its old row,
   * closed now, and gets a new one in force from now, so runs already stored, and late runs of before, keep the price
   * they had; an unchanged model is left alone. Overrides are untouched. Idempotent.
   */
  async refreshFromDataset(
    providers?: Provider[],
    version: string = genaiPricesVersion(),
    now: number = Date.now(),
  ): Promise<RefreshSummary> {
    const list = providers ?? (await datasetProviders());
    const current = new Map<string, RateRow>();
    for (const row of await this.load())
      if (row.source === 'genai-prices' && row.effectiveTo === null)
        current.set(`${row.provider}\u0000${row.modelId}`, row);
    const summary: RefreshSummary = { added: 0, changed: 0, unchanged: 0 };
    const writes: RateRow[] = [];
    for (const fresh of rowsFromDataset(list, version)) {
      const old = current.get(`${fresh.provider}\u0000${fresh.modelId}`);
      if (!old) {
        summary.added++;
        writes.push(fresh);
      } else if (pricesKey(old) === pricesKey(fresh)) {
        summary.unchanged++;
      } else {
        summary.changed++;
        const model = list.find((p) => p.id === fresh.provider)!.models.find((m) => m.id === fresh.modelId)!;
        writes.push({ ...old, effectiveTo: now }, rowForModel(fresh.provider, model, version, now));
      }
    }
    await this.upsert(writes);
    return summary;
  }

  async putOverride(id: string, o: OverrideInput): Promise<RateRow> {
    const per = (v: number | null | undefined): number | null =>
      v === null || v === undefined ? null : Math.round(v * 1e9);
    const row: RateRow = {
      id: `override:${id}`,
      source: 'override',
      provider: o.provider.toLowerCase(),
      modelId: o.model_id ?? id,
      match: o.match,
      priority: 100,
      effectiveFrom: o.effective_from ? Date.parse(o.effective_from) : Date.UTC(2020, 0, 1),
      effectiveTo: o.effective_to ? Date.parse(o.effective_to) : null,
      currency: o.currency ?? 'USD',
      rates: {
        input: per(o.input_per_mtok) ?? 0,
        output: per(o.output_per_mtok) ?? 0,
        cacheRead: per(o.cache_read_per_mtok),
        cacheWrite: per(o.cache_write_per_mtok),
        cacheWrite1h: per(o.cache_write_1h_per_mtok),
      },
      tiers: [],
      variants: [],
      multiplier: o.multiplier ?? null,
      version: `override@${new Date().toISOString()}`,
    };
    await this.upsert([row], o.note ?? null);
    return row;
  }

  async deleteOverride(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "delete from rate_card where id = $1 and source = 'override'",
      [`override:${id}`],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * Models whose runs arrived without a price, per team: one team's (null: every team's). The recorder keeps the counts,
   * from the runs it inserts, so a redelivered run is not counted twice.
   */
  async listUnpriced(team: string | null, limit = 1000): Promise<UnpricedModel[]> {
    return (await this.pageUnpriced(team, limit, null)).models;
  }

  /**
   * Unpriced models, most recently seen first (then team, provider and model, all descending): at most `limit` after
   * the position `after` ([last_seen in epoch microseconds, team, provider, model]), each with its position.
   */
  async pageUnpriced(
    team: string | null,
    limit: number,
    after: readonly [string, string, string, string] | null,
  ): Promise<{ models: UnpricedModel[]; positions: [string, string, string, string][] }> {
    const { rows } = await this.pool.query<UnpricedModel & { seen_us: string }>(
      `select team, provider, model, runs, first_seen, last_seen,
              (extract(epoch from last_seen) * 1000000)::bigint::text as seen_us
       from unpriced_models
       where ($1::text is null or team = $1)
         and ($3::bigint is null or (last_seen, team, provider, model)
              < ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::text, $5::text, $6::text))
       order by last_seen desc, team desc, provider desc, model desc limit $2`,
      [team, limit, after?.[0] ?? null, after?.[1] ?? null, after?.[2] ?? null, after?.[3] ?? null],
    );
    return {
      models: rows.map(({ seen_us: _, ...m }) => m),
      positions: rows.map((r) => [r.seen_us, r.team, r.provider, r.model]),
    };
  }
}

/** For the migrate step: seeds the rate card when it has no dataset rows yet. */
export async function seedRateCardIfEmpty(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    "select count(*) as n from rate_card where source = 'genai-prices'",
  );
  if (Number(rows[0].n) > 0) return 0;
  const { added } = await new RateCardRepository(pool).refreshFromDataset();
  return added;
}

export interface RefreshSummary {
  added: number;
  changed: number;
  unchanged: number;
}

/** A row's prices in one canonical text (jsonb reorders keys), to tell a changed price list from an unchanged one. */
function pricesKey(row: RateRow): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(canonical({ rates: row.rates, tiers: row.tiers, variants: row.variants }));
}
