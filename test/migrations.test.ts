import { Client } from 'pg';
import { TIMESCALE_PROBE_SQL, runMigrations, timescaleDecision, type TimescaleProbe } from '@libs/db';
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
