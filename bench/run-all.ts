/**
 * `npm run bench`: runs every bench/*.bench.ts as its own process (so one benchmark's heap and event loop do not
 * disturb another), shows their output, and prints as the very last line one JSON object merging the figures each
 * benchmark printed as its own last line. `npm run bench -- --quick` passes --quick to each (smaller volumes).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);

async function runOne(file: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, file), ...(quick ? ['--quick'] : [])],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: process.env,
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const figures = JSON.parse(last) as Record<string, unknown>;
        resolve(code === 0 ? figures : { ...figures, [`${file}_exit_code`]: code });
      } catch {
        resolve({ [`${file}_error`]: `exit ${code}; last line was not JSON` });
      }
    });
  });
}

async function main(): Promise<void> {
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => !only || f.startsWith(only))
    .sort((a, b) => (a.startsWith('e2e') ? 1 : b.startsWith('e2e') ? -1 : a.localeCompare(b)));
  const merged: Record<string, unknown> = { quick, machine: machine() };
  for (const file of files) {
    process.stdout.write(`\n== ${file}\n`);
    Object.assign(merged, await runOne(file));
  }
  derive(merged);
  process.stdout.write(JSON.stringify(merged) + '\n');
}

/** Figures gathered from several benchmarks' results: peak memory of each service, in one object. */
function derive(m: Record<string, unknown>): void {
  const num = (k: string) => (typeof m[k] === 'number' ? (m[k] as number) : null);
  const rss = (typeof m.peak_rss_mb === 'object' && m.peak_rss_mb ? m.peak_rss_mb : {}) as Record<
    string,
    unknown
  >;
  if (num('ingest_peak_rss_mb') !== null) rss.ingestion = m.ingest_peak_rss_mb;
  if (num('api_peak_rss_mb') !== null) rss.api = m.api_peak_rss_mb;
  if (Object.keys(rss).length > 0) m.peak_rss_mb = rss;
}

function machine(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require('node:os') as typeof import('node:os');
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}`;
}

void main();
