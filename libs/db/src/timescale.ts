/**
 * Everything TimescaleDB adds to the schema, in one place, idempotent: the migrations apply it when the extension is
 * usable, and `node dist/scripts/migrate.js --timescaledb` applies it to a database that started on plain PostgreSQL
 * (the same schema as a fresh install on TimescaleDB, whichever way it got there).
 *
 * - `runs` (1-day chunks), `spend_hourly` and `agent_stats` (30-day chunks) become hypertables, their rows moved in.
 * - With the Timescale License (the default build): `runs` compressed after 7 days and dropped after
 *   RUNS_RETENTION_DAYS (400), and the continuous aggregates `spend_by_hour` and `spend_by_day` over it. Their refresh
 *   policies cover all of history (start_offset NULL: a refresh recomputes only the buckets runs were written into since
 *   the last, however old), and they read real time (materialized_only false), so a run stored late, hours or weeks, is
 *   never silently missing from them.
 * - On an Apache-only build (timescaledb.license = 'apache') compression, retention and continuous aggregates are
 *   Timescale License features: skipped, and said so.
 */
import { Client } from 'pg';
import { withCaFile } from './pool';

export type Query = (sql: string) => Promise<unknown[]>;

const HYPERTABLES = [
  { table: 'runs', column: 'finished_at', chunk: '1 day' },
  { table: 'spend_hourly', column: 'bucket', chunk: '30 days' },
  { table: 'agent_stats', column: 'day_start', chunk: '30 days' },
];

export const CONTINUOUS_AGGREGATES = [
  { name: 'spend_by_hour', bucket: '1 hour', end: '5 minutes', every: '5 minutes' },
  { name: 'spend_by_day', bucket: '1 day', end: '1 hour', every: '30 minutes' },
];

export interface TimescaleState {
  installed: boolean;
  /** Compression, retention and continuous aggregates are there (the Timescale License). */
  tsl: boolean;
}

export async function timescaleState(query: Query): Promise<TimescaleState> {
  const [row] = (await query(`select
      exists(select 1 from pg_extension where extname = 'timescaledb') as installed,
      coalesce((select setting from pg_settings where name = 'timescaledb.license'), 'timescale') as license`)) as {
    installed: boolean;
    license: string;
  }[];
  return { installed: row.installed, tsl: row.installed && row.license !== 'apache' };
}

const exists = async (query: Query, relation: string) =>
  ((await query(`select to_regclass('${relation}') is not null as present`)) as { present: boolean }[])[0]
    .present;

/** Applies what TimescaleDB adds to the tables that exist so far (later migrations call it again). */
export async function applyTimescale(
  query: Query,
  options: {
    retentionDays?: number;
    log?: (msg: string) => void;
    /** false: not the continuous aggregates yet (the storage migration: later migrations still change `runs`). */
    aggregates?: boolean;
  } = {},
): Promise<TimescaleState> {
  const state = await timescaleState(query);
  if (!state.installed) return state;
  const log = options.log ?? ((msg: string) => console.warn(`[migrations] ${msg}`));
  for (const h of HYPERTABLES)
    if (await exists(query, h.table))
      await query(
        `select create_hypertable('${h.table}', '${h.column}', chunk_time_interval => interval '${h.chunk}',
           migrate_data => true, if_not_exists => true)`,
      );
  if (!state.tsl) {
    log(
      'TimescaleDB is an Apache-only build (timescaledb.license = apache): hypertables only; compression, retention ' +
        'and the continuous aggregates spend_by_hour/spend_by_day are Timescale License features and are skipped',
    );
    return state;
  }
  if (await exists(query, 'runs')) {
    const retention = options.retentionDays ?? Number(process.env.RUNS_RETENTION_DAYS ?? 400);
    const [h] = (await query(
      "select compression_enabled as on from timescaledb_information.hypertables where hypertable_name = 'runs'",
    )) as { on: boolean }[];
    // (compressed chunks refuse a change of the settings: set once)
    if (!h?.on)
      await query(
        "alter table runs set (timescaledb.compress, timescaledb.compress_segmentby = 'team, agent_id')",
      );
    await query("select add_compression_policy('runs', interval '7 days', if_not_exists => true)");
    await query(`select add_retention_policy('runs', interval '${retention} days', if_not_exists => true)`);
    for (const v of options.aggregates === false ? [] : CONTINUOUS_AGGREGATES) {
      await query(`
        create materialized view if not exists ${v.name}
        with (timescaledb.continuous) as
        select time_bucket(interval '${v.bucket}', finished_at) as bucket, team, agent_id, customer_id, feature, model,
          currency, count(*) as runs, count(*) filter (where status = 'success') as successful_runs,
          sum(total_cost_nanos) as cost_nanos, sum(uncached_input_tokens + cache_read_tokens + cache_write_tokens) as input_tokens,
          sum(output_tokens) as output_tokens
        from runs
        group by bucket, team, agent_id, customer_id, feature, model, currency
        with no data`);
      // changed only where it differs (a running refresh job holds locks a needless change would wait on)
      const [now] = (await query(
        `select ca.materialized_only as "materializedOnly",
                (select j.config ->> 'start_offset' from timescaledb_information.jobs j
                  where j.proc_name = 'policy_refresh_continuous_aggregate'
                    and j.hypertable_name = ca.view_name) as "startOffset",
                exists(select 1 from timescaledb_information.jobs j
                  where j.proc_name = 'policy_refresh_continuous_aggregate'
                    and j.hypertable_name = ca.view_name) as "hasPolicy"
           from timescaledb_information.continuous_aggregates ca where ca.view_name = '${v.name}'`,
      )) as { materializedOnly: boolean; startOffset: string | null; hasPolicy: boolean }[];
      if (now.materializedOnly)
        await query(`alter materialized view ${v.name} set (timescaledb.materialized_only = false)`);
      if (now.hasPolicy && now.startOffset === null) continue;
      // the policy of an earlier version refreshed the last 3 days only: replaced
      await query(`select remove_continuous_aggregate_policy('${v.name}', if_exists => true)`);
      await query(
        `select add_continuous_aggregate_policy('${v.name}', start_offset => null, end_offset => interval '${v.end}',
           schedule_interval => interval '${v.every}')`,
      );
    }
  }
  return state;
}

/**
 * A database that started on plain PostgreSQL, made what a fresh install on TimescaleDB is (`migrate.js --timescaledb`):
 * the extension (created here if this role may; otherwise a superuser creates it first), then applyTimescale, in one
 * transaction: a failure leaves the database as it was. Run after the migrations, with the services stopped or not (the
 * tables stay readable; create_hypertable moves their rows under a lock).
 */
export async function convertToTimescale(databaseUrl: string, caFile?: string): Promise<TimescaleState> {
  const client = new Client({ connectionString: withCaFile(databaseUrl, caFile) });
  await client.connect();
  const query: Query = async (sql) => (await client.query(sql)).rows as unknown[];
  try {
    await query('begin');
    try {
      await query('create extension if not exists timescaledb');
    } catch (err) {
      throw new Error(
        `cannot create the timescaledb extension (${(err as Error).message}): it needs 'timescaledb' in ` +
          'shared_preload_libraries and a superuser (run "create extension timescaledb" as one, then this again)',
      );
    }
    const state = await applyTimescale(query, { log: (msg) => console.warn(`[timescaledb] ${msg}`) });
    await query('commit');
    return state;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}
