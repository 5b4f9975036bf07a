import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Pool } from 'pg';
import type { ModelPrice, Provider } from '@pydantic/genai-prices';
import { createPool } from '@libs/db';
import {
  RateCardRepository,
  RateCardResolver,
  datasetProviders,
  genaiPricesVersion,
  installStoredDataset,
  loadStoredDataset,
  perMTok,
  useDataset,
} from '@libs/pricing-core';
import { main } from '../scripts/seed-rate-card';
import { migrated } from './support/services';
import { uid } from './support/stack';

const ROOT = resolve(__dirname, '..');
const NEW_INPUT = 3.75; // $/MTok for openai gpt-4o in the served data (2.5 in the bundled)

interface CardRow {
  id: string;
  source: string;
  effective_from: Date;
  effective_to: Date | null;
  input_rate: string;
  version: string;
  updated_at: Date;
}

/** The unconditional prices of a model of a dataset (the first entry when it has conditional ones). */
function pricesOf(providers: Provider[], provider: string, model: string): ModelPrice {
  const m = providers.find((p) => p.id === provider)!.models.find((x) => x.id === model)!;
  return Array.isArray(m.prices) ? m.prices[0].prices : m.prices;
}

/**
 * `seed-rate-card --latest` against a local server standing in for the dataset's URL, on a database of its own (it
 * changes the rate card's rows and the stored dataset every service installs).
 */
describe('rate card refresh from the newest price data (real PostgreSQL, local HTTP server)', () => {
  const database = `burnrate_rate_card_${uid()}`.toLowerCase();
  let admin: Pool;
  let pool: Pool;
  let databaseUrl: string;
  let bundled: Provider[];
  let server: Server;
  let base: string;
  let bundledInput: number;

  async function seed(argv: string[], path?: string) {
    const out = { stdout: '', stderr: '' };
    const env = { ...process.env, DATABASE_URL: databaseUrl, GENAI_PRICES_URL: path ? `${base}${path}` : '' };
    const code = await main(argv, env, {
      out: (t) => void (out.stdout += t),
      err: (t) => void (out.stderr += t),
    });
    return { code, ...out };
  }

  const gpt4o = async (): Promise<CardRow[]> =>
    (
      await pool.query<CardRow>(
        `select id, source, effective_from, effective_to, input_rate, version, updated_at from rate_card
         where source = 'genai-prices' and provider = 'openai' and model_id = 'gpt-4o' order by effective_from`,
      )
    ).rows;

  beforeAll(async () => {
    // The library's data before anything here installs other data: restored at the end.
    bundled = await datasetProviders();
    bundledInput = pricesOf(bundled, 'openai', 'gpt-4o').input_mtok as number;
    expect(bundledInput).not.toBe(NEW_INPUT);

    const shared = await migrated();
    admin = createPool(shared, 1);
    await admin.query(`create database ${database}`);
    const url = new URL(shared);
    url.pathname = `/${database}`;
    databaseUrl = await migrated(url.toString());
    pool = createPool(databaseUrl, 2);
    // pool.end() resolves before its clients' sockets close: one still closing when the database is dropped (with
    // force) hears of its termination, which is no failure.
    pool.on('error', () => undefined);

    const served = JSON.parse(JSON.stringify(bundled)) as Provider[];
    pricesOf(served, 'openai', 'gpt-4o').input_mtok = NEW_INPUT;
    const bodies: Record<string, [number, string]> = {
      '/data.json': [200, JSON.stringify(served)],
      '/not-json': [200, '<html>rate limited</html>'],
      '/object': [200, JSON.stringify({ providers: served })],
      '/no-models': [200, JSON.stringify([{ id: 'openai', name: 'OpenAI' }])],
    };
    server = createServer((req, res) => {
      const [status, body] = bodies[req.url ?? ''] ?? [404, 'not found'];
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    useDataset(bundled);
    await new Promise((r) => server?.close(r));
    await pool?.end();
    await admin?.query(`drop database if exists ${database} with (force)`);
    await admin?.end();
  });

  it('refreshes from the fetched data keeping history and overrides, stores the dataset, then changes nothing', async () => {
    // A card seeded from the bundled data, with an operator override.
    const seeded = await seed([]);
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toMatch(
      /refreshed from genai-prices@[\d.]+ \(bundled\): [1-9]\d* added, 0 changed/,
    );
    const repo = new RateCardRepository(pool);
    await repo.putOverride('mini-discount', {
      provider: 'openai',
      match: { equals: 'gpt-4o-mini' },
      multiplier: 0.5,
      note: 'negotiated',
    });
    const override = async () =>
      (await pool.query("select * from rate_card where id = 'override:mini-discount'")).rows[0] as unknown;
    const overrideBefore = await override();
    const [original] = await gpt4o();
    expect(Number(original.input_rate)).toBe(perMTok(bundledInput));
    const fingerprint = await repo.fingerprint();

    const before = Date.now();
    const latest = await seed(['--latest'], '/data.json');
    const after = Date.now();
    expect(latest).toMatchObject({ code: 0, stderr: '' });
    expect(latest.stdout).toMatch(/ 0 added, 1 changed, \d+ unchanged \(new prices in force from /);

    // The stored dataset: the fetched data, its version and where it came from.
    const stored = (await loadStoredDataset(pool))!;
    expect(stored.version).toMatch(/^genai-prices-data@[0-9a-f]{16}$/);
    expect(stored.sourceUrl).toBe(`${base}/data.json`);
    expect(pricesOf(stored.providers, 'openai', 'gpt-4o').input_mtok).toBe(NEW_INPUT);
    expect(latest.stdout).toContain(stored.version);

    // History: the old row closed at the refresh instant, the new price in force from then on.
    const [old, fresh, ...more] = await gpt4o();
    expect(more).toEqual([]);
    const at = fresh.effective_from.getTime();
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    expect(stored.fetchedAt.getTime()).toBe(at);
    expect(old).toMatchObject({
      id: original.id,
      effective_from: original.effective_from,
      version: original.version,
    });
    expect(old.input_rate).toBe(original.input_rate);
    expect(old.effective_to!.getTime()).toBe(at);
    expect(fresh).toMatchObject({
      id: `genai:openai:gpt-4o@${new Date(at).toISOString()}`,
      effective_to: null,
      version: stored.version,
    });
    expect(Number(fresh.input_rate)).toBe(perMTok(NEW_INPUT));
    const card = new RateCardResolver(await repo.load());
    expect(card.rowFor('gpt-4o-2024-08-06', 'openai', at - 1)?.id).toBe(original.id);
    expect(card.rowFor('gpt-4o-2024-08-06', 'openai', at)?.id).toBe(fresh.id);
    expect(await override()).toEqual(overrideBefore);
    expect(await repo.fingerprint()).not.toBe(fingerprint);

    // A service installs the stored dataset as the matcher's data (the library's own data back to the bundled first).
    useDataset(bundled);
    expect(await installStoredDataset(pool)).toBe(stored.version);
    expect(pricesOf(await datasetProviders(), 'openai', 'gpt-4o').input_mtok).toBe(NEW_INPUT);

    // The same data again: nothing changes, not even the fingerprint pricing reloads on.
    const changed = await repo.fingerprint();
    const again = await seed(['--latest'], '/data.json');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/ 0 added, 0 changed, \d+ unchanged\n$/);
    expect((await gpt4o()).map((r) => r.id)).toEqual([old.id, fresh.id]);
    expect(await repo.fingerprint()).toBe(changed);
    expect((await loadStoredDataset(pool))!.version).toBe(stored.version);
  });

  it('reprices stored runs only with --reprice, and only the unpriced ones', async () => {
    const run = async (id: string, status: string, cost: number) =>
      pool.query(
        `insert into runs (run_id, finished_at, started_at, team, agent_id, model, provider, status,
           uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos,
           cache_read_cost_nanos, cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status,
           priced_at)
         values ($1, now(), now(), 'refresh', 'agent', 'gpt-4o', 'openai', 'success', 1000, 0, 0, 100, $2, 0, 0, 0, $2,
           'USD', $3, now())`,
        [id, cost, status],
      );
    await run('was-unpriced', 'unpriced', 0);
    await run('was-priced', 'priced', 123);
    const runs = async () =>
      Object.fromEntries(
        (
          await pool.query<{
            run_id: string;
            price_status: string;
            total_cost_nanos: string;
            rate_card_id: string;
          }>("select run_id, price_status, total_cost_nanos, rate_card_id from runs where team = 'refresh'")
        ).rows.map((r) => [r.run_id, r]),
      );

    expect((await seed(['--latest'], '/data.json')).code).toBe(0);
    expect((await runs())['was-unpriced'].price_status).toBe('unpriced');

    const repriced = await seed(['--latest', '--reprice'], '/data.json');
    expect(repriced.code).toBe(0);
    expect(repriced.stdout).toContain('unpriced runs: 1 repriced, 0 still unpriced');
    const after = await runs();
    const [, fresh] = await gpt4o();
    expect(after['was-unpriced']).toMatchObject({ price_status: 'priced', rate_card_id: fresh.id });
    expect(Number(after['was-unpriced'].total_cost_nanos)).toBeGreaterThan(0);
    expect(after['was-priced']).toMatchObject({
      price_status: 'priced',
      total_cost_nanos: '123',
      rate_card_id: null,
    });
  });

  it('falls back when the data cannot be fetched or is not a dataset, or fails with --strict', async () => {
    const rows = async () =>
      (await pool.query<{ n: string }>('select count(*) as n from rate_card')).rows[0].n;
    const count = await rows();
    const stored = (await loadStoredDataset(pool))!;

    // A fetched dataset is stored: it is kept (the bundled data would undo its newer prices until the next fetch).
    const missing = await seed(['--latest'], '/missing');
    expect(missing.code).toBe(0);
    expect(missing.stderr).toContain(`could not use the latest price data from ${base}/missing: HTTP 404`);
    expect(missing.stderr).toContain(`keeping the stored dataset ${stored.version}`);
    expect(missing.stdout).toMatch(/ 0 added, 0 changed/);
    expect(await rows()).toBe(count);

    for (const [path, reason] of [
      ['/missing', 'HTTP 404 Not Found'],
      ['/not-json', 'the answer is not JSON'],
      ['/object', 'expected a JSON array of providers, got an object'],
      ['/no-models', 'provider "openai" has no "models" array'],
    ]) {
      const strict = await seed(['--latest', '--strict'], path);
      expect(strict).toMatchObject({ code: 1, stdout: '' });
      expect(strict.stderr).toContain(`${base}${path}: ${reason}`);
      expect(strict.stderr).toContain('the rate card is unchanged');
    }
    expect(await rows()).toBe(count);
    expect((await loadStoredDataset(pool))!.version).toBe(stored.version);

    // Without --latest: the bundled data, by the operator's choice; gpt-4o's bundled price comes back as a new row.
    const back = await seed([]);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/ 0 added, 1 changed/);
    expect((await gpt4o()).map((r) => [Number(r.input_rate), r.effective_to === null])).toEqual([
      [perMTok(bundledInput), false],
      [perMTok(NEW_INPUT), false],
      [perMTok(bundledInput), true],
    ]);
    expect(await loadStoredDataset(pool)).toMatchObject({
      version: genaiPricesVersion(),
      sourceUrl: 'bundled',
    });

    // Nothing fetched stored now: an unreachable URL falls back to the bundled data, which changes nothing.
    const offline = await seed(['--latest'], '/missing');
    expect(offline.code).toBe(0);
    expect(offline.stderr).toContain('falling back to the bundled data');
    expect(offline.stdout).toMatch(/ 0 added, 0 changed/);
  });

  it('as a command: exit 1 with --strict when the fetch fails, 2 on a wrong argument', async () => {
    // Asynchronously: the server answering it is in this process.
    const cli = (args: string[], path: string) =>
      new Promise<{ status: number | null; stderr: string }>((done, fail) => {
        const child = spawn(
          process.execPath,
          ['-r', '@swc-node/register', 'scripts/seed-rate-card.ts', ...args],
          {
            cwd: ROOT,
            env: { ...process.env, DATABASE_URL: databaseUrl, GENAI_PRICES_URL: `${base}${path}` },
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', fail);
        child.on('exit', (status) => done({ status, stderr }));
      });
    const strict = await cli(['--latest', '--strict'], '/missing');
    expect(strict.stderr).toContain('HTTP 404');
    expect(strict.status).toBe(1);
    const wrong = await cli(['--lastest'], '/data.json');
    expect(wrong.stderr).toContain('unknown argument --lastest');
    expect(wrong.status).toBe(2);
  });
});
