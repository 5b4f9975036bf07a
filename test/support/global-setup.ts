import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/** Integration tests run against the real local stack; bring it up (idempotent) before any test file runs. */
export default async function globalSetup(): Promise<void> {
  if (process.env.BURNRATE_SKIP_INFRA === '1') return;
  execFileSync('bash', [resolve(__dirname, '../../scripts/infra.sh'), 'up'], { stdio: 'inherit' });
}
