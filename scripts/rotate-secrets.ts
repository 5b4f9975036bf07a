/**
 * Seals every stored secret (alert routes' destinations, the delivery outbox's copies) with the current SECRETS_KEY:
 *   node dist/scripts/rotate-secrets.js
 * Run it after setting a new SECRETS_KEY with the old one in SECRETS_PREVIOUS_KEYS (and after upgrading from a
 * version that stored them in plain text); once it reports nothing left, the old key can be dropped. Idempotent.
 */
import type { Pool } from 'pg';
import { destinationNeedsSealing, openDestination, sealDestination, type Destination } from '@libs/alerting';
import { commonSpec, loadConfigOrExit } from '@libs/config';
import { createPool } from '@libs/db';
import { SecretBox } from '@libs/secrets';

export interface RotationReport {
  routes: number;
  outbox: number;
  keyId: string;
  /** Rows sealed with a key neither current nor previous: left as they are, named here. */
  unreadable: string[];
}

export async function rotateSecrets(pool: Pool, box: SecretBox): Promise<RotationReport> {
  const reseal = (d: Destination) => sealDestination(box, openDestination(box, d));
  const unreadable: string[] = [];
  const tryReseal = (what: string, ds: Destination[]): Destination[] | null => {
    try {
      return ds.map(reseal);
    } catch (err) {
      unreadable.push(`${what}: ${(err as Error).message}`);
      return null;
    }
  };
  let routes = 0;
  const { rows } = await pool.query<{ id: string; destinations: Destination[] }>(
    'select id, destinations from alert_routes',
  );
  for (const r of rows) {
    if (!r.destinations.some((d) => destinationNeedsSealing(box, d))) continue;
    const sealed = tryReseal(`route ${r.id}`, r.destinations);
    if (!sealed) continue;
    await pool.query('update alert_routes set destinations = $2 where id = $1', [
      r.id,
      JSON.stringify(sealed),
    ]);
    routes++;
  }
  let outbox = 0;
  for (let after = '0'; ;) {
    const batch = await pool.query<{ id: string; destination: Destination }>(
      'select id, destination from alert_outbox where id > $1 order by id limit 1000',
      [after],
    );
    if (batch.rows.length === 0) break;
    after = batch.rows[batch.rows.length - 1].id;
    for (const r of batch.rows) {
      if (!destinationNeedsSealing(box, r.destination)) continue;
      const sealed = tryReseal(`outbox row ${r.id}`, [r.destination]);
      if (!sealed) continue;
      await pool.query('update alert_outbox set destination = $2 where id = $1', [
        r.id,
        JSON.stringify(sealed[0]),
      ]);
      outbox++;
    }
  }
  return { routes, outbox, keyId: box.keyId, unreadable };
}

async function main(): Promise<number> {
  const config = loadConfigOrExit(commonSpec);
  const pool = createPool(config.DATABASE_URL, { max: 2, caFile: config.DATABASE_CA_FILE?.path });
  try {
    const report = await rotateSecrets(pool, SecretBox.fromEnv());
    process.stdout.write(
      `sealed with key ${report.keyId}: ${report.routes} routes, ${report.outbox} outbox rows re-sealed\n`,
    );
    for (const u of report.unreadable) process.stderr.write(`not re-sealed, ${u}\n`);
    // rows left under an unknown key: add that key to SECRETS_PREVIOUS_KEYS and run again before dropping any key
    return report.unreadable.length > 0 ? 1 : 0;
  } finally {
    await pool.end();
  }
}

if (require.main === module)
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`rotate-secrets: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
