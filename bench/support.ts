import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const quick = process.argv.includes('--quick');
const ROOT = resolve(__dirname, '..');

/** Services this bench started: none outlives it, even when it fails (their ports would refuse the next run). */
const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts a built service (dist/) as its own process and waits for /readyz. */
export async function startBuiltService(
  name: string,
  port: number,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  // BENCH_CPU_PROF=<dir>: each service writes a V8 CPU profile there when it stops (open it in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${resolve(process.env.BENCH_CPU_PROF)}`,
        `--cpu-prof-name=${name}-${port}-${Date.now()}.cpuprofile`,
      ]
    : [];
  const child = spawn(process.execPath, [...profile, resolve(ROOT, `dist/services/${name}/src/main.js`)], {
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', 'inherit'],
  });
  started.add(child);
  child.on('exit', () => started.delete(child));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return child;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Peak resident memory of a process, from /proc (Linux), in MB. */
export function peakRssMb(pid: number | undefined): number | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const status = (require('node:fs') as typeof import('node:fs')).readFileSync(
      `/proc/${pid}/status`,
      'utf8',
    );
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : null;
  } catch {
    return null;
  }
}

export const round = (v: number, digits = 0): number => Number(v.toFixed(digits));

/** One sample of a Prometheus text exposition: `name{label="value",...} value`. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample a service's /metrics shows now. */
export async function scrapeMetrics(port: number): Promise<MetricSample[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the first sample named `name` whose labels include `labels` (NaN when there is none). */
export async function metricValue(
  port: number,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const sample = (await scrapeMetrics(port)).find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return sample ? sample.value : NaN;
}
