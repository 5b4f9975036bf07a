import { join } from 'node:path';
import { DataSource } from 'typeorm';

/**
 * The typeorm DataSource, used for migrations. Queries on the hot paths use the pg Pool directly (multi-row
 * statements); typeorm owns the schema's history. Migration files: libs/db/src/migrations/<unix-ms>-<name>.migration.ts.
 */
export function createDataSource(databaseUrl: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations: [join(__dirname, 'migrations', '*.migration.{ts,js}')],
    migrationsTableName: 'burnrate_migrations',
    migrationsTransactionMode: 'each',
    logging: ['error'],
  });
}

/** Applies every pending migration; returns the names applied. Safe to run from several replicas (advisory lock). */
export async function runMigrations(databaseUrl: string): Promise<string[]> {
  const ds = createDataSource(databaseUrl);
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

/** True when the timescaledb extension is installed in this database (or can be created). */
export async function timescaleAvailable(
  query: (sql: string) => Promise<{ installed: boolean }[]>,
): Promise<boolean> {
  const rows = await query(
    "select exists(select 1 from pg_available_extensions where name = 'timescaledb') as installed",
  );
  return rows[0]?.installed === true;
}
