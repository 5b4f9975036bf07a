import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { withCaFile } from './pool';

/**
 * The typeorm DataSource, used for migrations. Queries on the hot paths use the pg Pool directly (multi-row
 * statements); typeorm owns the schema's history. Migration files: libs/db/src/migrations/<unix-ms>-<name>.migration.ts.
 */
export function createDataSource(databaseUrl: string, caFile?: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url: withCaFile(databaseUrl, caFile),
    migrations: [join(__dirname, 'migrations', '*.migration.{ts,js}')],
    migrationsTableName: 'burnrate_migrations',
    migrationsTransactionMode: 'each',
    logging: ['error'],
  });
}

/**
 * Applies every pending migration; returns the names applied. Safe to run from several replicas (advisory lock).
 * `caFile`: DATABASE_CA_FILE's path.
 */
export async function runMigrations(databaseUrl: string, caFile?: string): Promise<string[]> {
  const ds = createDataSource(databaseUrl, caFile);
  await ds.initialize();
  try {
    await ds.query('select pg_advisory_lock(727274)');
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await ds.query('select pg_advisory_unlock(727274)');
    }
  } finally {
    await ds.destroy();
  }
}

export interface TimescaleProbe {
  /** The extension exists in this database. */
  installed: boolean;
  /** The server has its files (pg_available_extensions). */
  available: boolean;
  /**
   * The server's shared_preload_libraries setting, or null when this role may not read it (pg_settings hides it from a
   * role without pg_read_all_settings, such as a database owner that is not a superuser).
   */
  preload: string | null;
}

/**
 * Whether the migrations use TimescaleDB: when the extension is already in the database, or its files are on the
 * server and the library is preloaded. Files without the preload (a Debian or RPM package installed but
 * postgresql.conf untouched) make `create extension` fail outright, so that case stays plain PostgreSQL, and says why.
 */
export function timescaleDecision(p: TimescaleProbe): 'use' | 'absent' | 'not-preloaded' | 'unknown' {
  if (p.installed) return 'use';
  if (!p.available) return 'absent';
  if (p.preload === null) return 'unknown';
  const libs = p.preload.split(',').map((l) => l.trim().replace(/^"|"$/g, ''));
  // 'timescaledb', '$libdir/timescaledb', 'timescaledb-2.22.1', 'timescaledb.so' (not 'timescaledb_toolkit')
  return libs.some((l) => /(^|\/)timescaledb(-[\d.]+)?(\.so)?$/.test(l)) ? 'use' : 'not-preloaded';
}

export const TIMESCALE_PROBE_SQL = `select
  exists(select 1 from pg_extension where extname = 'timescaledb') as installed,
  exists(select 1 from pg_available_extensions where name = 'timescaledb') as available,
  (select setting from pg_settings where name = 'shared_preload_libraries') as preload`;

/**
 * Asks the server (see timescaleDecision) and creates the extension when it is to be used; warns when TimescaleDB is
 * there but cannot be used. A role that may not read shared_preload_libraries cannot tell whether `create extension`
 * would work, and trying is no probe (without the preload the server ends the connection): it uses TimescaleDB only
 * where a superuser created the extension first (timescaledb is not a trusted extension; that is the DBA's step).
 */
export async function useTimescale(query: (sql: string) => Promise<unknown[]>): Promise<boolean> {
  if (/^(off|false|0|no)$/i.test(process.env.BURNRATE_TIMESCALEDB ?? '')) {
    console.warn('[migrations] BURNRATE_TIMESCALEDB=off: plain PostgreSQL tables');
    return false;
  }
  const [probe] = (await query(TIMESCALE_PROBE_SQL)) as TimescaleProbe[];
  const decision = timescaleDecision(probe);
  if (decision === 'unknown')
    console.warn(
      '[migrations] the timescaledb extension is on this server, but this role cannot read shared_preload_libraries nor create the extension: using plain PostgreSQL tables. To use TimescaleDB, a superuser runs "create extension timescaledb" in this database, then "node dist/scripts/migrate.js --timescaledb" converts the tables (docs/deployment.md, TimescaleDB).',
    );
  if (decision === 'use') await query('create extension if not exists timescaledb');
  if (decision === 'not-preloaded')
    console.warn(
      '[migrations] the timescaledb extension is on this server but not in shared_preload_libraries, so it cannot be created: using plain PostgreSQL tables. To use TimescaleDB, add \'timescaledb\' to shared_preload_libraries, restart PostgreSQL and then run "node dist/scripts/migrate.js --timescaledb" (docs/deployment.md, TimescaleDB).',
    );
  return decision === 'use';
}
