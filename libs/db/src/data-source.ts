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
  /** The server's shared_preload_libraries setting. */
  preload: string;
}

/**
 * Whether the migrations use TimescaleDB: when the extension is already in the database, or its files are on the
 * server and the library is preloaded. Files without the preload (a Debian or RPM package installed but
 * postgresql.conf untouched) make `create extension` fail outright, so that case stays plain PostgreSQL, and says why.
 */
export function timescaleDecision(p: TimescaleProbe): 'use' | 'absent' | 'not-preloaded' {
  if (p.installed) return 'use';
  if (!p.available) return 'absent';
  const libs = p.preload.split(',').map((l) => l.trim().replace(/^"|"$/g, ''));
  // 'timescaledb', '$libdir/timescaledb', 'timescaledb-2.22.1', 'timescaledb.so' (not 'timescaledb_toolkit')
  return libs.some((l) => /(^|\/)timescaledb(-[\d.]+)?(\.so)?$/.test(l)) ? 'use' : 'not-preloaded';
}

export const TIMESCALE_PROBE_SQL = `select
  exists(select 1 from pg_extension where extname = 'timescaledb') as installed,
  exists(select 1 from pg_available_extensions where name = 'timescaledb') as available,
  coalesce(current_setting('shared_preload_libraries', true), '') as preload`;

/** Asks the server (see timescaleDecision); warns when TimescaleDB is there but cannot be used. */
export async function useTimescale(query: (sql: string) => Promise<TimescaleProbe[]>): Promise<boolean> {
  const [probe] = await query(TIMESCALE_PROBE_SQL);
  const decision = timescaleDecision(probe);
  if (decision === 'not-preloaded')
    console.warn(
      "[migrations] the timescaledb extension is on this server but not in shared_preload_libraries, so it cannot be created: using plain PostgreSQL tables. To use TimescaleDB, add 'timescaledb' to shared_preload_libraries, restart PostgreSQL and then convert the tables (docs/deployment.md, TimescaleDB).",
    );
  return decision === 'use';
}
