/**
 * guard_block_after_s: from the run that crosses a guard limit to the guard answering `block`, under load. Ingestion,
 * pricing, the aggregator, the detector and the api run as built processes on the real broker, registry and
 * PostgreSQL; a background producer keeps up a steady load of other agents' runs through ingestion while, in each
 * trial, a fresh looping agent sends one run every 50 ms until its rule (more than LIMIT runs in 10 minutes) is
 * crossed. The figure is from ingestion's acceptance of the crossing run to the first GET /v1/guard that says block
 * (polled every 25 ms, as an SDK with a short cache would).
 */
import { ApiKeyRepository } from '@libs/auth';
import { createPool } from '@libs/db';
import { quick, round, startBuiltService, stop } from './support';

const PORTS = { ingestion: 18701, pricing: 18702, aggregator: 18703, detector: 18704, api: 18705 };
const TEAM = 'guard-block-bench';
const LIMIT = 20;
const TRIALS = quick ? 3 : 5;
const BACKGROUND_PER_S = quick ? 500 : 1000;

const url = (name: keyof typeof PORTS, path: string) => `http://127.0.0.1:${PORTS[name]}${path}`;

function run(agent: string, i: number): Record<string, unknown> {
  const now = Date.now();
  return {
    run_id: `${agent}-${i}-${now}`,
    agent_id: agent,
    model: 'gpt-4o-mini',
    input_tokens: 1200,
    output_tokens: 300,
    started_at: new Date(now - 800).toISOString(),
    finished_at: new Date(now).toISOString(),
    status: 'success',
    customer_id: `cus-${i % 7}`,
  };
}

async function post(key: string, runs: Record<string, unknown>[]): Promise<void> {
  const res = await fetch(url('ingestion', '/v1/runs'), {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(runs),
  });
  if (res.status !== 202 && res.status !== 200)
    throw new Error(`ingestion answered ${res.status}: ${await res.text()}`);
}

/** Other agents' runs at BACKGROUND_PER_S, in 20 batches a second, until stopped. */
function background(key: string): () => Promise<number> {
  let stopped = false;
  let sent = 0;
  const done = (async () => {
    const perBatch = BACKGROUND_PER_S / 20;
    while (!stopped) {
      const tick = Date.now();
      await post(
        key,
        Array.from({ length: perBatch }, (_, i) => run(`steady-${i % 50}`, sent + i)),
      );
      sent += perBatch;
      await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - tick))));
    }
  })();
  return async () => {
    stopped = true;
    await done;
    return sent;
  };
}

async function trial(key: string, agent: string): Promise<number> {
  let crossedAt: number | null = null;
  let blockedAt: number | null = null;
  const poll = (async () => {
    while (blockedAt === null) {
      const res = await fetch(url('api', `/v1/guard?agent_id=${agent}`), {
        headers: { authorization: `Bearer ${key}` },
      });
      const body = (await res.json()) as { decision?: string };
      if (body.decision === 'block') blockedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const deadline = Date.now() + 120_000;
  for (let i = 1; blockedAt === null && Date.now() < deadline; i++) {
    await post(key, [run(agent, i)]);
    if (i === LIMIT + 1) crossedAt = Date.now();
    await new Promise((r) => setTimeout(r, 50));
  }
  if (blockedAt === null || crossedAt === null) throw new Error(`${agent} was never blocked`);
  await poll;
  return (blockedAt - crossedAt) / 1000;
}

async function main(): Promise<void> {
  const pool = createPool(
    process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate',
    1,
  );
  const { key } = await new ApiKeyRepository(pool).create(TEAM, 'guard block bench', 'team');
  await pool.end();
  const env = { POLL_MS: '100', SETTINGS_POLL_MS: '1000' };
  const children = [];
  for (const [name, port] of Object.entries(PORTS)) children.push(await startBuiltService(name, port, env));
  try {
    const put = await fetch(url('api', `/v1/teams/${TEAM}/settings`), {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        guard: {
          rules: [
            {
              id: 'loop',
              action: 'block',
              match: { agent: 'looper-*' },
              limit: { metric: 'runs', amount: LIMIT, window_s: 600 },
            },
          ],
        },
      }),
    });
    if (put.status !== 200) throw new Error(`settings answered ${put.status}: ${await put.text()}`);
    const stopBackground = background(key);
    await new Promise((r) => setTimeout(r, 3000)); // the load settles
    const times: number[] = [];
    for (let t = 0; t < TRIALS; t++) times.push(await trial(key, `looper-${Date.now()}-${t}`));
    const sent = await stopBackground();
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    console.log(
      `guard block after crossing, under ${BACKGROUND_PER_S} runs/s of other agents (${sent} sent): ` +
        `median ${round(median, 2)} s, max ${round(times[times.length - 1], 2)} s over ${TRIALS} trials`,
    );
    console.log(
      JSON.stringify({
        guard_block_after_s: round(median, 2),
        guard_block_after_max_s: round(times[times.length - 1], 2),
        guard_block_background_runs_per_s: BACKGROUND_PER_S,
      }),
    );
  } finally {
    for (const child of children.reverse()) await stop(child);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
