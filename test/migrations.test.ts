import { Client } from 'pg';
import {
  TIMESCALE_PROBE_SQL,
  convertToTimescale,
  runMigrations,
  timescaleDecision,
  type TimescaleProbe,
} from '@libs/db';
import { uid } from './support/stack';

const BASE = process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate';

/**
 * The migrations from nothing, on a database of its own: they must succeed whatever TimescaleDB situation the server
 * is in (absent, packaged but not preloaded, usable) and build the schema that situation calls for.
 */
describe('migrations on a new database', () => {
  const name = `burnrate_migrations_${uid()}`;
  const url = Object.assign(new URL(BASE), { pathname: `/${name}` }).toString();

  async function onServer<T>(db: string, fn: (c: Client) => Promise<T>): Promise<T> {
    const c = new Client({ connectionString: db });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }

  beforeAll(() => onServer(BASE, (c) => c.query(`create database ${name}`)));
  afterAll(() => onServer(BASE, (c) => c.query(`drop database if exists ${name} with (force)`)));

  it('applies every migration once, then nothing, with TimescaleDB used exactly when the server allows it', async () => {
    const applied = await runMigrations(url);
    expect(applied.length).toBeGreaterThanOrEqual(9);
    expect(await runMigrations(url)).toEqual([]);

    await onServer(url, async (c) => {
      const tables = (
        await c.query<{ t: string }>(
          "select table_name as t from information_schema.tables where table_schema = 'public'",
        )
      ).rows.map((r) => r.t);
      expect(tables).toEqual(
        expect.arrayContaining([
          'runs',
          'spend_hourly',
          'agent_stats',
          'anomalies',
          'api_keys',
          'rate_card',
          'agent_settings',
          'settings_version',
        ]),
      );
      const probe = (await c.query<TimescaleProbe>(TIMESCALE_PROBE_SQL)).rows[0];
      const decision = timescaleDecision({ ...probe, installed: false });
      if (decision === 'use') {
        expect(probe.installed).toBe(true);
        const hypertables = await c.query<{ name: string }>(
          'select hypertable_name as name from timescaledb_information.hypertables order by 1',
        );
        expect(hypertables.rows.map((r) => r.name)).toEqual(['agent_stats', 'runs', 'spend_hourly']);
      } else {
        expect(probe.installed).toBe(false); // and nothing failed on the way
      }
    });
  }, 60_000);

  it('moves the settings version with every write to team settings, budgets and agent settings, in its transaction', async () => {
    await onServer(url, async (c) => {
      const version = async () =>
        Number((await c.query<{ v: string }>('select version::text as v from settings_version')).rows[0].v);
      const v0 = await version();
      await c.query("insert into team_settings (team) values ('v-team') on conflict do nothing");
      const v1 = await version();
      expect(v1).toBeGreaterThan(v0);
      await c.query(
        "insert into budgets (team, scope, subject, period, amount_nanos, currency) values ('v-team', 'team', '', 'day', 1, 'USD')",
      );
      const v2 = await version();
      expect(v2).toBeGreaterThan(v1);
      await c.query("insert into agent_settings (team, agent_id) values ('v-team', 'a')");
      const v3 = await version();
      expect(v3).toBeGreaterThan(v2);
      await c.query('begin');
      await c.query("delete from budgets where team = 'v-team'");
      await c.query('rollback');
      expect(await version()).toBe(v3);
      await c.query("delete from budgets where team = 'v-team'");
      expect(await version()).toBeGreaterThan(v3);
    });
  });
});

/** The server's TimescaleDB: usable (the CI's second pass, scripts/timescaledb.sh) or not (plain PostgreSQL). */
async function serverHasTimescale(): Promise<boolean> {
  const c = new Client({ connectionString: BASE });
  await c.connect();
  try {
    const probe = (await c.query<TimescaleProbe>(TIMESCALE_PROBE_SQL)).rows[0];
    return timescaleDecision({ ...probe, installed: false }) === 'use';
  } finally {
    await c.end();
  }
}

/**
 * The server's TimescaleDB license: 'apache' for an Apache-only build (no compression, retention, aggregates). Read in
 * a database with the extension (the setting exists where the extension is loaded).
 */
async function serverLicense(url: string): Promise<string> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ l: string | null }>(
      "select (select setting from pg_settings where name = 'timescaledb.license') as l",
    );
    return r.rows[0].l ?? 'timescale';
  } finally {
    await c.end();
  }
}

/** What a database's schema is, TimescaleDB's part included: compared between two ways of getting there. */
async function schemaOf(url: string): Promise<Record<string, unknown>> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const rows = async (sql: string) => (await c.query(sql)).rows;
    const timescale = (await rows("select 1 from pg_extension where extname = 'timescaledb'")).length > 0;
    return {
      columns: await rows(
        `select table_name, column_name, data_type, is_nullable from information_schema.columns
          where table_schema = 'public' order by table_name, column_name`,
      ),
      indexes: await rows(
        "select tablename, indexname from pg_indexes where schemaname = 'public' order by 1, 2",
      ),
      ...(timescale && {
        hypertables: await rows(
          `select hypertable_name, compression_enabled from timescaledb_information.hypertables
            where hypertable_schema = 'public' order by 1`,
        ),
        dimensions: await rows(
          `select hypertable_name, column_name, time_interval::text from timescaledb_information.dimensions
            where hypertable_schema = 'public' order by 1`,
        ),
        // ids differ with the order things were made in: compared by what they are
        jobs: await rows(
          `select proc_name, hypertable_name, schedule_interval::text,
                  (config - 'hypertable_id' - 'mat_hypertable_id')::text as config
             from timescaledb_information.jobs where job_id >= 1000 order by 1, 2`,
        ),
        aggregates: await rows(
          `select view_name, materialized_only from timescaledb_information.continuous_aggregates order by 1`,
        ),
      }),
    };
  } finally {
    await c.end();
  }
}

describe('migrations for a database owner that is not a superuser, and TimescaleDB converted later', () => {
  const id = uid();
  const role = `burnrate_owner_${id}`;
  const owned = `burnrate_owned_${id}`;
  const plainLater = `burnrate_later_${id}`;
  const fresh = `burnrate_fresh_${id}`;
  const urlOf = (db: string, user?: string) =>
    Object.assign(new URL(BASE), {
      pathname: `/${db}`,
      ...(user && { username: user, password: 'owner-pw' }),
    }).toString();
  const admin = async <T>(db: string, fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ connectionString: urlOf(db) });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  const base = new URL(BASE).pathname.slice(1);

  beforeAll(() =>
    admin(base, async (c) => {
      await c.query(`create role ${role} login password 'owner-pw' nosuperuser nocreatedb nocreaterole`);
      for (const db of [owned, plainLater, fresh]) await c.query(`create database ${db}`);
      await c.query(`alter database ${owned} owner to ${role}`);
    }),
  );
  afterAll(() =>
    admin(base, async (c) => {
      for (const db of [owned, plainLater, fresh])
        await c.query(`drop database if exists ${db} with (force)`);
      await c.query(`drop role if exists ${role}`);
    }),
  );

  it('migrates as an owner without superuser rights (it cannot read shared_preload_libraries)', async () => {
    const ts = await serverHasTimescale();
    // the DBA's step where TimescaleDB is used: the extension is not trusted, a superuser creates it
    if (ts) await admin(owned, (c) => c.query('create extension if not exists timescaledb'));
    const applied = await runMigrations(urlOf(owned, role));
    expect(applied.length).toBeGreaterThan(9);
    expect(await runMigrations(urlOf(owned, role))).toEqual([]);
    const schema = await schemaOf(urlOf(owned));
    if (ts)
      expect(schema.hypertables).toEqual(
        expect.arrayContaining([expect.objectContaining({ hypertable_name: 'runs' })]),
      );
    else expect(schema.hypertables).toBeUndefined();
  }, 120_000);

  it('converts a plain database with one command into the schema of a fresh install on TimescaleDB', async () => {
    if (!(await serverHasTimescale())) return; // (plain PostgreSQL: CI's TimescaleDB pass runs it)
    const before = process.env.BURNRATE_TIMESCALEDB;
    process.env.BURNRATE_TIMESCALEDB = 'off';
    try {
      await runMigrations(urlOf(plainLater));
    } finally {
      if (before === undefined) delete process.env.BURNRATE_TIMESCALEDB;
      else process.env.BURNRATE_TIMESCALEDB = before;
    }
    expect((await schemaOf(urlOf(plainLater))).hypertables).toBeUndefined();
    await admin(plainLater, (c) =>
      c.query(
        `insert into runs (run_id, finished_at, started_at, team, agent_id, model, provider, status, uncached_input_tokens,
           cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos, cache_read_cost_nanos,
           cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status, priced_at)
         values ('kept', now() - interval '2 days', now() - interval '2 days', 't', 'a', 'm', 'p', 'success',
           1, 0, 0, 1, 1, 0, 0, 1, 2, 'USD', 'priced', now())`,
      ),
    );
    const state = await convertToTimescale(urlOf(plainLater));
    expect(state).toEqual({ installed: true, tsl: (await serverLicense(urlOf(plainLater))) !== 'apache' });
    // twice changes nothing
    await convertToTimescale(urlOf(plainLater));
    await runMigrations(urlOf(fresh));
    expect(await schemaOf(urlOf(plainLater))).toEqual(await schemaOf(urlOf(fresh)));
    const kept = await admin(plainLater, (c) =>
      c.query("select count(*)::int as n from runs where run_id = 'kept'"),
    );
    expect(kept.rows[0].n).toBe(1);
  }, 120_000);

  it('keeps a late run in the continuous aggregates: their policy covers all history, reads are real time', async () => {
    if (!(await serverHasTimescale())) return;
    if ((await serverLicense(urlOf(fresh))) === 'apache') {
      // an Apache-only build: hypertables, and no aggregates (a Timescale License feature), without failing
      const schema = await schemaOf(urlOf(fresh));
      expect(schema.aggregates).toEqual([]);
      expect(schema.hypertables).toEqual(
        ['agent_stats', 'runs', 'spend_hourly'].map((h) => ({
          hypertable_name: h,
          compression_enabled: false,
        })),
      );
      return;
    }
    const insert = (c: Client, id: string, daysAgo: number) =>
      c.query(
        `insert into runs (run_id, finished_at, started_at, team, agent_id, model, provider, status, uncached_input_tokens,
           cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos, cache_read_cost_nanos,
           cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status, priced_at)
         values ($1, date_trunc('day', now()) - $2 * interval '1 day' + interval '1 hour',
           date_trunc('day', now()) - $2 * interval '1 day' + interval '1 hour', 'late-team', 'a', 'm', 'p',
           'success', 1, 0, 0, 1, 1, 0, 0, 999, 1000, 'USD', 'priced', now())`,
        [id, daysAgo],
      );
    await admin(fresh, async (c) => {
      await insert(c, 'on-time', 10);
      const job = (
        await c.query<{ id: number }>(
          "select job_id as id from timescaledb_information.jobs where proc_name = 'policy_refresh_continuous_aggregate' and hypertable_name = 'spend_by_day'",
        )
      ).rows[0].id;
      await c.query(`call run_job(${job})`);
      // ten days late, into a day already materialized (the 3-day refresh window of before never saw such a run)
      await insert(c, 'late', 10);
      await c.query(`call run_job(${job})`);
      const day = await c.query<{ runs: string; cost: string }>(
        `select sum(runs)::text as runs, sum(cost_nanos)::text as cost from spend_by_day
          where team = 'late-team' and bucket = date_trunc('day', now()) - interval '10 days'`,
      );
      expect(day.rows[0]).toEqual({ runs: '2', cost: '2000' });
    });
  }, 120_000);
});
