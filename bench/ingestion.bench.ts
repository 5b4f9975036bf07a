/**
 * Ingestion throughput through the real service process on the real broker, driven by autocannon (an HTTP load
 * generator in this process): batches of 500 runs, and single-run requests. Prints runs/s and latency percentiles.
 */
import autocannon from 'autocannon';
import { ApiKeyRepository } from '@libs/auth';
import { createPool } from '@libs/db';
import { peakRssMb, quick, round, startBuiltService, stop } from './support';

const PORT = 18581;

function body(n: number): string {
  const now = Date.now();
  return JSON.stringify(
    Array.from({ length: n }, (_, i) => ({
      run_id: `bench-${now}-${i}`,
      agent_id: `agent-${i % 50}`,
      model: 'claude-sonnet-4-5-20250929',
      input_tokens: 2400,
      output_tokens: 600,
      cache_read_tokens: 12000,
      customer_id: `cus_${i % 200}`,
      feature: 'bench',
      started_at: new Date(now - 5000).toISOString(),
      finished_at: new Date(now - 1000).toISOString(),
      status: 'success',
    })),
  );
}

async function load(key: string, batch: number, connections: number, seconds: number) {
  const result = await autocannon({
    url: `http://127.0.0.1:${PORT}/v1/runs`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: body(batch),
    connections,
    duration: seconds,
  });
  const ok = result['2xx'];
  return {
    runsPerS: round((ok * batch) / (result.duration || seconds)),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors,
  };
}

async function main(): Promise<void> {
  const pool = createPool(
    process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate',
    1,
  );
  const { key } = await new ApiKeyRepository(pool).create('bench', 'ingestion bench', 'team');
  await pool.end();
  const svc = await startBuiltService('ingestion', PORT);
  const seconds = quick ? 5 : 15;
  await load(key, 500, 4, 2); // warm-up
  const batch = await load(key, 500, 8, seconds);
  const single = await load(key, 1, 64, seconds);
  const rss = peakRssMb(svc.pid);
  await stop(svc);
  console.log(
    `ingestion, batches of 500: ${batch.runsPerS} runs/s, p50 ${batch.p50} ms, p99 ${batch.p99} ms, errors ${batch.errors}`,
  );
  console.log(
    `ingestion, single runs:    ${single.runsPerS} runs/s, p50 ${single.p50} ms, p99 ${single.p99} ms, errors ${single.errors}`,
  );
  console.log(
    JSON.stringify({
      ingest_batch_runs_per_s: batch.runsPerS,
      ingest_batch_p50_ms: batch.p50,
      ingest_batch_p99_ms: batch.p99,
      ingest_single_runs_per_s: single.runsPerS,
      ingest_single_p50_ms: single.p50,
      ingest_single_p99_ms: single.p99,
      ingest_errors: batch.errors + single.errors,
      ingest_peak_rss_mb: rss,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
