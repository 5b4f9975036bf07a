import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..');
const lock = join(process.env.BURNRATE_INFRA_DIR ?? join(root, '.burnrate', 'infra'), '.lock');

/**
 * `scripts/infra.sh up` serialises itself on a lock file. Anything it starts must not inherit that lock, or the next
 * `up` (`npm test` after `npm run demo`, `npm run bench`) waits for ever. PostgreSQL once did.
 */
describe('the local stack script', () => {
  it('leaves its start-up lock free once the stack is up', async () => {
    // flock -n fails at once when any process (a server the script started, say) still holds the lock.
    await expect(run('flock', ['-n', lock, 'true'])).resolves.toBeDefined();
  });

  it('answers a second `up` at once when everything is already running', async () => {
    const { stderr } = await run('bash', [join(root, 'scripts/infra.sh'), 'up'], { timeout: 60_000 });
    expect(stderr).toContain('ready: Kafka');
  }, 70_000);
});
