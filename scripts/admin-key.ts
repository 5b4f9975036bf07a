/**
 * Local mode: makes sure an admin API key exists and is in .burnrate/admin-key (git-ignored). Takes
 * BURNRATE_ADMIN_KEY when set (and registers it if it is new), keeps a still-valid existing file, or creates a key.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ApiKeyRepository, hashApiKey, parseApiKey } from '@libs/auth';
import { commonSpec, loadConfigOrExit } from '@libs/config';
import { createPool } from '@libs/db';

const FILE = join(__dirname, '../../.burnrate/admin-key');

async function main(): Promise<void> {
  const config = loadConfigOrExit(commonSpec);
  const pool = createPool(config.DATABASE_URL, { max: 2, caFile: config.DATABASE_CA_FILE?.path });
  const keys = new ApiKeyRepository(pool, 0);
  try {
    const given = process.env.BURNRATE_ADMIN_KEY?.trim();
    let key: string | null = null;
    if (given) {
      const parsed = parseApiKey(given);
      if (!parsed) throw new Error('BURNRATE_ADMIN_KEY is not a burnrate key (br_<8 chars>_<32 chars>)');
      if (!(await keys.verify(given))) {
        await pool.query(
          `insert into api_keys (id, team, name, role, prefix, key_hash) values ($1, '_admin', 'local admin (BURNRATE_ADMIN_KEY)', 'admin', $2, $3)
           on conflict (prefix) do nothing`,
          [randomUUID(), parsed.prefix, hashApiKey(given)],
        );
      }
      key = given;
    } else if (existsSync(FILE)) {
      const existing = readFileSync(FILE, 'utf8').trim();
      if (await keys.verify(existing)) key = existing;
    }
    if (!key) key = (await keys.create('_admin', 'local admin', 'admin')).key;
    mkdirSync(dirname(FILE), { recursive: true });
    writeFileSync(FILE, key + '\n', { mode: 0o600 });
    process.stdout.write(FILE + '\n');
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`admin-key: ${(err as Error).message}\n`);
  process.exit(1);
});
