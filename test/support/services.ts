import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiKeyRepository, type Role } from '@libs/auth';
import { createPool, runMigrations } from '@libs/db';

const ROOT = resolve(__dirname, '../..');

// Service processes must not outlive the test run (a timed-out test skips its clean-up; --forceExit does not kill children).
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

export async function migrated(
  databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate',
): Promise<string> {
  await runMigrations(databaseUrl);
  return databaseUrl;
}

export async function createKey(team: string, role: Role = 'team'): Promise<{ id: string; key: string }> {
  const pool = createPool(await migrated(), 1);
  try {
    const { id, key } = await new ApiKeyRepository(pool).create(team, `test ${team}`, role);
    return { id, key };
  } finally {
    await pool.end();
  }
}

export interface ServiceProcess {
  name: string;
  port: number;
  child: ChildProcess;
  url: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a service as its own process from source (services/<name>/src/main.ts via @swc-node/register), the way
 * `npm run up` starts it from the build, and waits until it answers /readyz.
 */
export async function startService(
  name: string,
  port: number,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  mkdirSync(resolve(ROOT, '.burnrate/test-logs'), { recursive: true });
  const log = createWriteStream(resolve(ROOT, `.burnrate/test-logs/${name}-${port}.log`), { flags: 'a' });
  const child = spawn(
    process.execPath,
    ['-r', '@swc-node/register', resolve(ROOT, `services/${name}/src/main.ts`)],
    {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited with ${child.exitCode}; see .burnrate/test-logs/${name}-${port}.log`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} not ready in 90 s; see .burnrate/test-logs/${name}-${port}.log`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    name,
    port,
    child,
    url,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
