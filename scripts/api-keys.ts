/**
 * API keys from the command line (the api service offers the same over HTTP):
 *   node dist/scripts/api-keys.js create <team> <name> [team|admin]   prints the key once
 *   node dist/scripts/api-keys.js list [team]
 *   node dist/scripts/api-keys.js revoke <id>
 */
import { ApiKeyRepository, type Role } from '@libs/auth';
import { commonSpec, loadConfigOrExit } from '@libs/config';
import { createPool } from '@libs/db';

async function main(argv: string[]): Promise<number> {
  const config = loadConfigOrExit(commonSpec);
  const pool = createPool(config.DATABASE_URL, { max: 2, caFile: config.DATABASE_CA_FILE?.path });
  const keys = new ApiKeyRepository(pool);
  try {
    const [command, ...args] = argv;
    if (command === 'create' && args.length >= 2) {
      const role = (args[2] ?? 'team') as Role;
      if (role !== 'team' && role !== 'admin') throw new Error('role must be team or admin');
      const { id, key } = await keys.create(args[0], args[1], role);
      process.stdout.write(JSON.stringify({ id, key, team: args[0], role }) + '\n');
    } else if (command === 'list') {
      for (const k of await keys.list(args[0])) process.stdout.write(JSON.stringify(k) + '\n');
    } else if (command === 'revoke' && args[0]) {
      if (!(await keys.revoke(args[0]))) throw new Error(`no active key ${args[0]}`);
      process.stdout.write(`revoked ${args[0]}\n`);
    } else {
      process.stderr.write('usage: api-keys create <team> <name> [team|admin] | list [team] | revoke <id>\n');
      return 2;
    }
    return 0;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`api-keys: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
