import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPool } from '@libs/db';
import { SecretBox } from '@libs/secrets';
import { createKey } from './support/services';
import { uid } from './support/stack';

/**
 * The image, without a Docker engine: the Dockerfile's runtime stage rebuilt as a directory (its COPY lines applied to
 * the build output in dist/ and to production dependencies installed as its deps stage installs them, `npm ci
 * --omit=dev`), outside the repository so that nothing resolves to the development node_modules. The services and
 * the migration Job's command run from it as the Deployments run them: the image's ENV, the ConfigMap the kustomize
 * base generates (k8s/base/config.env) pointed at the local stack, the per-service PORT, INSTANCE_ID and
 * CONSUMER_GROUP. They must answer the probes and the HEALTHCHECK, do their work, write nothing into the app directory
 * (the root filesystem is read-only), and exit 0 on SIGTERM within SHUTDOWN_TIMEOUT_MS.
 */
const ROOT = resolve(__dirname, '..');
const DOCKERFILE = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');

/** The instructions of one stage (`FROM ... AS <name>`), continuation lines joined. */
function stage(name: string): string[] {
  const lines = DOCKERFILE.split('\n').map((l) => l.trim());
  const from = lines.findIndex((l) => new RegExp(`^FROM \\S+ AS ${name}$`, 'i').test(l));
  if (from < 0) throw new Error(`Dockerfile has no stage ${name}`);
  const end = lines.findIndex((l, i) => i > from && /^FROM /i.test(l));
  return lines.slice(from + 1, end < 0 ? undefined : end).filter((l) => l !== '' && !l.startsWith('#'));
}

const runtime = stage('runtime');
const execForm = (instruction: string): string[] => {
  const line = runtime.filter((l) => l.startsWith(`${instruction} `)).at(-1);
  if (!line) throw new Error(`the runtime stage has no ${instruction}`);
  return JSON.parse(line.slice(line.indexOf('['))) as string[];
};
const CMD = execForm('CMD');
const HEALTHCHECK = execForm('HEALTHCHECK');

/** ENV of the runtime stage (`ENV A=1 B=2`). */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of runtime.filter((l) => l.startsWith('ENV ')))
    for (const [, k, v] of line.slice(4).matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[k] = v.replace(/^"|"$/g, '');
  return env;
}

/** The shared settings as the kustomize base's ConfigMap holds them (the chart's defaults). */
function configMapEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(resolve(ROOT, 'k8s/base/config.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/** The runtime stage as a directory: <tmp>/burnrate-image-<lock hash>/app, production dependencies kept by hash. */
function assembleImage(): string {
  const lock = readFileSync(resolve(ROOT, 'package-lock.json'));
  const hash = createHash('sha256')
    .update(lock)
    .update(readFileSync(resolve(ROOT, 'package.json')))
    .digest('hex');
  const base = join(tmpdir(), `burnrate-image-${hash.slice(0, 16)}`);
  const deps = join(base, 'deps');
  const app = join(base, 'app');
  expect(stage('deps').some((l) => /^RUN npm ci --omit=dev\b/.test(l))).toBe(true);
  if (!existsSync(join(deps, 'node_modules/.installed'))) {
    rmSync(deps, { recursive: true, force: true });
    mkdirSync(deps, { recursive: true });
    cpSync(resolve(ROOT, 'package.json'), join(deps, 'package.json'));
    cpSync(resolve(ROOT, 'package-lock.json'), join(deps, 'package-lock.json'));
    const npm = spawnSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: deps,
      env: { ...process.env, SCARF_ANALYTICS: 'false' },
      encoding: 'utf8',
    });
    if (npm.status !== 0) throw new Error(`npm ci --omit=dev failed:\n${npm.stderr}`);
    writeFileSync(join(deps, 'node_modules/.installed'), hash);
  }
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  // COPY [--from=<stage>] [--chown=...] <src>... <dest>, relative to WORKDIR /app.
  for (const line of runtime.filter((l) => l.startsWith('COPY '))) {
    const words = line.split(/\s+/).slice(1);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const [dest, ...sources] = words.filter((w) => !w.startsWith('--')).reverse();
    for (const src of sources.reverse()) {
      const origin =
        from === 'build'
          ? resolve(ROOT, src.replace(/^\/app\//, '')) // the build stage's /app/dist is `npm run build`'s dist/
          : from === 'deps'
            ? join(deps, src.replace(/^\/app\//, ''))
            : resolve(ROOT, src);
      const target =
        dest.endsWith('/') || sources.length > 1 ? join(app, dest, src.split('/').at(-1)!) : join(app, dest);
      cpSync(origin, target, { recursive: true, verbatimSymlinks: true });
    }
  }
  return app;
}

interface Started {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('the production image (Dockerfile runtime stage, as Kubernetes runs it)', () => {
  let app: string;
  let marker: number;
  const ns = `t${uid()}`;
  const logs = resolve(ROOT, '.burnrate/test-logs');

  /** The container's environment: image ENV, the ConfigMap, the stack, the Deployment's own variables. */
  function containerEnv(service: string, port: number | null): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: join(tmpdir(), `burnrate-home-${ns}`), // only /tmp is writable in the pod
      ...imageEnv(),
      ...configMapEnv(),
      // the local stack instead of the ConfigMap's example endpoints
      KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
      SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8085/apis/ccompat/v7',
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate',
      KAFKA_TOPIC_PARTITIONS: '3',
      KAFKA_REPLICATION_FACTOR: '1',
      BURNRATE_TOPIC_NAMESPACE: ns, // this test's own topics
      INSTANCE_ID: `${service}-0`, // the pod's name, from the downward API
      SECRETS_KEY: SecretBox.DEVELOPMENT_KEY, // from the burnrate-secrets Secret; the local stack's, so stored routes read
      ...(port === null ? {} : { PORT: String(port), CONSUMER_GROUP: `burnrate-${service}-${ns}` }),
    };
  }

  async function start(service: string, port: number, command = CMD): Promise<Started> {
    const args = command.slice(command[0] === 'node' ? 1 : 0).map((a) => a.replace('/api/', `/${service}/`));
    expect(args).toContain(`dist/services/${service}/src/main.js`);
    const log = createWriteStream(join(logs, `image-${service}-${port}.log`), { flags: 'a' });
    const child = spawn(process.execPath, args, {
      cwd: app, // WORKDIR /app
      env: containerEnv(service, port),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(
          `${service} exited with ${child.exitCode}: .burnrate/test-logs/image-${service}-${port}.log`,
        );
      if (
        await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error(`${service} not ready in 90 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { child, url, exited };
  }

  /** Docker's HEALTHCHECK, run as Docker runs it in the container: its exit code. */
  function healthcheck(port: number): number {
    const [cmd, ...args] = HEALTHCHECK;
    expect(cmd).toBe('node');
    const r = spawnSync(process.execPath, args, {
      env: { ...imageEnv(), PORT: String(port) },
      timeout: 5000,
    });
    return r.status ?? -1;
  }

  async function stop(s: Started): Promise<number | null> {
    const started = Date.now();
    s.child.kill('SIGTERM');
    const code = await s.exited;
    expect(Date.now() - started).toBeLessThan(Number(configMapEnv().SHUTDOWN_TIMEOUT_MS));
    return code;
  }

  const metric = async (s: Started, name: string): Promise<number> => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
  };

  beforeAll(async () => {
    expect(process.version.startsWith('v24.')).toBe(true); // the image's node:24
    mkdirSync(logs, { recursive: true });
    if (!existsSync(resolve(ROOT, 'dist/services/api/src/main.js')))
      execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
    app = assembleImage();
    // everything in the app directory is older than this: a file newer than it was written by a service
    marker = Math.floor(Date.now() / 1000) - 5;
    execFileSync('find', [app, '-exec', 'touch', '-h', '-d', `@${marker}`, '{}', '+']);
  }, 300_000);

  afterAll(() => {
    if (!app) return;
    // nothing was created or changed in /app: the pods' root filesystem is read-only
    const written = execFileSync('find', [app, '-newermt', `@${marker + 1}`], { encoding: 'utf8' }).trim();
    expect(written).toBe('');
  });

  it('has only production dependencies: no TypeScript, test tools or the `node` package', () => {
    for (const dev of ['typescript', 'jest', '@swc/core', '@swc-node/register', 'node', 'eslint', 'prettier'])
      expect(existsSync(join(app, 'node_modules', dev))).toBe(false);
    for (const dir of [
      'dist/services/api/src/main.js',
      'dist/scripts/migrate.js',
      'schemas/run.avsc',
      'package.json',
    ])
      expect(existsSync(join(app, dir))).toBe(true);
    expect(existsSync(join(app, 'dist/test'))).toBe(false);
  });

  it('runs the migration Job: migrations, topics, schemas, rate card, exit 0 (and again: idempotent)', () => {
    for (let i = 0; i < 2; i++) {
      const out = join(logs, `image-migrate-${ns}.log`);
      const fd = openSync(out, 'a');
      try {
        const r = spawnSync(process.execPath, ['--enable-source-maps', 'dist/scripts/migrate.js'], {
          cwd: app,
          env: containerEnv('migrate', null),
          stdio: ['ignore', fd, fd],
          timeout: 120_000,
        });
        expect(r.status).toBe(0);
      } finally {
        closeSync(fd);
      }
    }
    expect(readFileSync(join(logs, `image-migrate-${ns}.log`), 'utf8')).toContain('"msg":"rate card seeded"');
  });

  it('api, ingestion and pricing start, answer the probes and the HEALTHCHECK, price a run, and exit 0 on SIGTERM', async () => {
    const team = `team-${uid()}`;
    const { key } = await createKey(team);
    const api = await start('api', 18771);
    const ingestion = await start('ingestion', 18772);
    const pricing = await start('pricing', 18773);
    const all = { api, ingestion, pricing };
    try {
      for (const [name, s] of Object.entries(all)) {
        expect([name, (await fetch(`${s.url}/healthz`)).status]).toEqual([name, 200]);
        expect([name, (await fetch(`${s.url}/readyz`)).status]).toEqual([name, 200]);
        expect([name, await metric(s, 'burnrate_ready')]).toEqual([name, 1]);
        expect([name, healthcheck(Number(new URL(s.url).port))]).toEqual([name, 0]);
      }
      // the OpenAPI UI's assets come from production dependencies
      expect((await fetch(`${api.url}/docs`)).status).toBe(200);
      expect((await fetch(`${api.url}/openapi.json`)).status).toBe(200);

      const finished = new Date(Date.now() - 60_000);
      const res = await fetch(`${ingestion.url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({
          run_id: `run-${uid()}`,
          agent_id: 'image-check',
          model: 'claude-sonnet-4-5-20250929',
          input_tokens: 1200,
          output_tokens: 300,
          started_at: new Date(finished.getTime() - 4000).toISOString(),
          finished_at: finished.toISOString(),
          status: 'success',
        }),
      });
      expect(res.status).toBe(202);
      const deadline = Date.now() + 60_000;
      while ((await metric(pricing, 'burnrate_runs_priced_total')) < 1 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 250));
      expect(await metric(pricing, 'burnrate_runs_priced_total')).toBe(1);
      expect(await metric(pricing, 'burnrate_spend_nanos_total')).toBeGreaterThan(0);
    } finally {
      const codes = await Promise.all(Object.values(all).map(stop));
      expect(codes).toEqual([0, 0, 0]);
    }
    expect(healthcheck(18771)).not.toBe(0); // nothing listens any more: Docker would see it unhealthy
  });
});

describe("the Grafana dashboard's database panels", () => {
  it('run against the migrated schema', async () => {
    const dashboard = JSON.parse(
      readFileSync(resolve(ROOT, 'deploy/monitoring/grafana-dashboard.json'), 'utf8'),
    ) as {
      panels: { title: string; targets?: { rawSql?: string }[] }[];
    };
    const queries = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).filter((t) => t.rawSql).map((t) => [p.title, t.rawSql!] as const),
    );
    expect(queries.length).toBeGreaterThanOrEqual(3);
    const pool = createPool(
      process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate',
      1,
    );
    try {
      for (const [title, sql] of queries) {
        // Grafana's macros and variables, as it expands them for "last 24 hours" and team "All"
        const expanded = sql
          .replace(/\$__timeFilter\(([^)]+)\)/g, "$1 between now() - interval '24 hours' and now()")
          .replace(/\$\{team:regex\}/g, '.*');
        await expect(pool.query(expanded).then(() => title)).resolves.toBe(title);
      }
    } finally {
      await pool.end();
    }
  });
});
