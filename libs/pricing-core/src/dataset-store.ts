import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { Provider } from '@pydantic/genai-prices';
import { datasetProviders, useDataset } from './dataset';

/**
 * The price dataset the rate card's rows were last refreshed from, kept in PostgreSQL (`rate_card_dataset`, one row) so
 * that every service matches models with the data their rows came from: `seed-rate-card --latest` stores the newest
 * data it fetched, a refresh from the bundled data stores that. No row: the bundled data, which every service has.
 */
export interface StoredDataset {
  version: string;
  fetchedAt: Date;
  /** Where it came from: a URL, or `bundled` (the data shipped with @pydantic/genai-prices). */
  sourceUrl: string;
  providers: Provider[];
}

/** The `source_url` of the data bundled with @pydantic/genai-prices. */
export const BUNDLED_SOURCE = 'bundled';

// Taken when this module is loaded, before anything can have installed other data (index.ts loads it with dataset.ts).
const bundled: Promise<Provider[]> = datasetProviders();

/** The data bundled with @pydantic/genai-prices, whatever dataset is in use now. */
export function bundledDataset(): Promise<Provider[]> {
  return bundled;
}

/** A fetched dataset's version: its content's hash, so fetching the same data again gives the same version. */
export function datasetVersion(providers: Provider[]): string {
  return `genai-prices-data@${createHash('sha256').update(JSON.stringify(providers)).digest('hex').slice(0, 16)}`;
}

export async function saveDataset(
  pool: Pool,
  d: { version: string; sourceUrl: string; providers: Provider[]; fetchedAt?: Date },
): Promise<void> {
  await pool.query(
    `insert into rate_card_dataset (id, version, fetched_at, source_url, data) values (1, $1, $2, $3, $4::jsonb)
     on conflict (id) do update set version = excluded.version, fetched_at = excluded.fetched_at,
       source_url = excluded.source_url, data = excluded.data`,
    [d.version, d.fetchedAt ?? new Date(), d.sourceUrl, JSON.stringify(d.providers)],
  );
}

export async function loadStoredDataset(pool: Pool): Promise<StoredDataset | null> {
  const { rows } = await pool.query<{
    version: string;
    fetched_at: Date;
    source_url: string;
    data: Provider[];
  }>('select version, fetched_at, source_url, data from rate_card_dataset where id = 1');
  if (rows.length === 0) return null;
  const r = rows[0];
  return { version: r.version, fetchedAt: r.fetched_at, sourceUrl: r.source_url, providers: r.data };
}

// The version this process installed from the store (null: the bundled data). Scripts that call useDataset themselves
// do not go through here.
let installed: string | null = null;

/**
 * Makes the stored dataset the one the matcher uses, when its version differs from the one this process installed
 * (a cheap query otherwise); back to the bundled data when the row is gone. Returns the version in use (null: bundled).
 * Throws when the library refuses the stored data; the data in use is then unchanged.
 */
export async function installStoredDataset(pool: Pool): Promise<string | null> {
  const { rows } = await pool.query<{ version: string }>(
    'select version from rate_card_dataset where id = 1',
  );
  if ((rows[0]?.version ?? null) === installed) return installed;
  const stored = rows.length > 0 ? await loadStoredDataset(pool) : null;
  try {
    useDataset(stored ? stored.providers : await bundled);
  } catch (err) {
    throw new Error(
      `the stored price dataset ${stored?.version ?? BUNDLED_SOURCE} was refused by @pydantic/genai-prices: ${(err as Error).message}`,
    );
  }
  installed = stored?.version ?? null;
  return installed;
}

/**
 * Checks that fetched JSON is a price dataset: a non-empty array of providers, each with an `id` and a `models` array
 * of models with an `id` and `prices`. Throws an error naming the first thing wrong; the library checks the rest when
 * the data is installed.
 */
export function checkDataset(data: unknown): Provider[] {
  const kind = (v: unknown) =>
    v === null
      ? 'null'
      : Array.isArray(v)
        ? 'an array'
        : typeof v === 'object'
          ? 'an object'
          : `a ${typeof v}`;
  if (!Array.isArray(data)) throw new Error(`expected a JSON array of providers, got ${kind(data)}`);
  if (data.length === 0) throw new Error('the array of providers is empty');
  data.forEach((p: unknown, i) => {
    if (!p || typeof p !== 'object' || Array.isArray(p))
      throw new Error(`provider #${i + 1} is ${kind(p)}, not an object`);
    const { id, models } = p as { id?: unknown; models?: unknown };
    if (typeof id !== 'string' || id === '')
      throw new Error(`provider #${i + 1} has no "id" (a non-empty string)`);
    if (!Array.isArray(models)) throw new Error(`provider "${id}" has no "models" array`);
    models.forEach((m: unknown, j) => {
      const model = (m && typeof m === 'object' ? m : {}) as { id?: unknown; prices?: unknown };
      if (typeof model.id !== 'string' || model.id === '')
        throw new Error(`provider "${id}": model #${j + 1} has no "id" (a non-empty string)`);
      if (
        !model.prices ||
        typeof model.prices !== 'object' ||
        (Array.isArray(model.prices) && !model.prices.length)
      )
        throw new Error(`provider "${id}": model "${model.id}" has no "prices"`);
    });
  });
  return data as Provider[];
}
