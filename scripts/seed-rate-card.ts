/**
 * Seeds or refreshes the rate card from a price dataset, keeping history and overrides:
 *
 *   node dist/scripts/seed-rate-card.js            from the data bundled with @pydantic/genai-prices
 *   node dist/scripts/seed-rate-card.js --latest   from the newest data, fetched from GENAI_PRICES_URL (default: the
 *                                                  library's REMOTE_DATA_JSON_URL) within GENAI_PRICES_TIMEOUT_MS (30 s)
 *     --strict    with --latest: a fetch that fails exits 1 and changes nothing (without it: a message on stderr, then
 *                 the fallback below, exit 0)
 *     --reprice   then prices the stored runs that arrived unpriced (nothing already priced is touched)
 *
 * A model whose price list changed keeps its old row, closed now, and gets a new row in force from now. The dataset the
 * rows came from is stored in PostgreSQL (rate_card_dataset) and the services match models with it. When --latest
 * cannot fetch, the fallback is the bundled data, unless a fetched dataset is already stored: that one is kept, as
 * going back to older bundled prices until the next fetch succeeds would close fresher rows for staler ones.
 */
import { REMOTE_DATA_JSON_URL, type Provider } from '@pydantic/genai-prices';
import { commonSpec, loadConfigOrExit } from '@libs/config';
import { createPool, runMigrations } from '@libs/db';
import {
  BUNDLED_SOURCE,
  RateCardRepository,
  bundledDataset,
  checkDataset,
  datasetProviders,
  datasetVersion,
  genaiPricesVersion,
  loadStoredDataset,
  repriceUnpriced,
  rowsFromDataset,
  saveDataset,
  useDataset,
} from '@libs/pricing-core';

const USAGE =
  'usage: seed-rate-card [--latest [--strict]] [--reprice]\n' +
  '  --latest   fetch the newest price data (GENAI_PRICES_URL) instead of the bundled data\n' +
  '  --strict   with --latest: fail (exit 1) when it cannot be fetched, instead of falling back\n' +
  '  --reprice  then price the stored runs that arrived unpriced\n';

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

interface Dataset {
  providers: Provider[];
  version: string;
  sourceUrl: string;
  /** Store it as the dataset in use (a dataset already stored is not stored again). */
  store: boolean;
}

/** Fetches and checks the newest data; installs it as the library's (which normalises it, or refuses it). */
export async function fetchLatest(url: string, timeoutMs: number): Promise<Dataset> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' },
    });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') throw new Error(`no complete answer within ${timeoutMs / 1000} s`);
    throw new Error(`${e.message}${e.cause ? ` (${e.cause.message ?? e.cause.code})` : ''}`);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`the answer is not JSON: ${(err as Error).message}`);
  }
  const raw = checkDataset(json);
  try {
    useDataset(raw);
  } catch (err) {
    throw new Error(`@pydantic/genai-prices refused the data: ${(err as Error).message}`);
  }
  const providers = await datasetProviders();
  const version = datasetVersion(providers);
  try {
    rowsFromDataset(providers, version); // what the refresh will do with it, so bad prices are refused here
  } catch (err) {
    throw new Error(`the data cannot be turned into rate card rows: ${(err as Error).message}`);
  }
  return { providers, version, sourceUrl: url, store: true };
}

async function bundled(): Promise<Dataset> {
  return {
    providers: await bundledDataset(),
    version: genaiPricesVersion(),
    sourceUrl: BUNDLED_SOURCE,
    store: true,
  };
}

/** Exit code: 0 done, 1 --strict and the fetch failed, 2 usage. Other failures (the database) throw. */
export async function main(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
  io: Output = stdio,
): Promise<number> {
  const flags = new Set(argv);
  const unknown = argv.filter((a) => !['--latest', '--strict', '--reprice'].includes(a));
  if (unknown.length > 0 || (flags.has('--strict') && !flags.has('--latest'))) {
    io.err(unknown.length > 0 ? `seed-rate-card: unknown argument ${unknown[0]}\n${USAGE}` : USAGE);
    return 2;
  }
  const config = loadConfigOrExit(commonSpec, env);
  await runMigrations(config.DATABASE_URL, config.DATABASE_CA_FILE?.path);
  const pool = createPool(config.DATABASE_URL, { max: 2, caFile: config.DATABASE_CA_FILE?.path });
  try {
    let dataset: Dataset;
    if (flags.has('--latest')) {
      const url = env.GENAI_PRICES_URL?.trim() || REMOTE_DATA_JSON_URL;
      const timeoutMs = Number(env.GENAI_PRICES_TIMEOUT_MS ?? 30_000);
      try {
        dataset = await fetchLatest(url, Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 30_000);
      } catch (err) {
        io.err(
          `seed-rate-card: could not use the latest price data from ${url}: ${(err as Error).message}\n`,
        );
        if (flags.has('--strict')) {
          io.err('seed-rate-card: --strict: the rate card is unchanged\n');
          return 1;
        }
        const stored = await loadStoredDataset(pool);
        dataset =
          stored && stored.sourceUrl !== BUNDLED_SOURCE ? { ...stored, store: false } : await bundled();
        io.err(
          dataset.store
            ? `seed-rate-card: falling back to the bundled data (${dataset.version})\n`
            : `seed-rate-card: keeping the stored dataset ${dataset.version}, fetched ${stored!.fetchedAt.toISOString()} from ${dataset.sourceUrl}\n`,
        );
      }
    } else {
      dataset = await bundled();
    }
    // The matcher (for --reprice) uses the data the rows come from.
    useDataset(dataset.providers);
    const now = Date.now();
    const { added, changed, unchanged } = await new RateCardRepository(pool).refreshFromDataset(
      dataset.providers,
      dataset.version,
      now,
    );
    if (dataset.store) await saveDataset(pool, { ...dataset, fetchedAt: new Date(now) });
    io.out(
      `rate card refreshed from ${dataset.version} (${dataset.sourceUrl}): ${added} added, ${changed} changed, ` +
        `${unchanged} unchanged${changed > 0 ? ` (new prices in force from ${new Date(now).toISOString()})` : ''}\n`,
    );
    if (flags.has('--reprice')) {
      const { repriced, stillUnpriced } = await repriceUnpriced(pool);
      io.out(`unpriced runs: ${repriced} repriced, ${stillUnpriced} still unpriced\n`);
    }
    return 0;
  } finally {
    await pool.end();
  }
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`seed-rate-card: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
