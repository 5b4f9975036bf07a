/**
 * End to end, on this machine's whole stack: pricing, aggregator, recorder, detector and alert-router as built
 * processes on the real broker, registry and PostgreSQL.
 *
 * 1. Throughput: N runs waiting on runs.raw when the services start; the sustained rate at which they are priced, stored
 *    by the recorder and counted by the aggregator (both groups' committed offsets), between 10% and 90% of them.
 * 2. Alert latency under background load: while a producer keeps up a steady load (a third of the measured
 *    throughput), runs that cross a threshold (a model the rate card cannot price: the unpriced-model rule fires on
 *    the first one) are published; latency is until the local webhook receiver has the signed alert.
 * 3. The ceiling, in the same run: a bare kafkajs chain of the same two consume-and-produce hops over the same broker
 *    with the same records, and PostgreSQL's own bulk load (COPY through psql) of the same rows into a copy of the
 *    runs table. Our throughput is reported as a fraction of the lower of the two.
 * 4. Peak resident memory of each service.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompressionTypes, type Admin, type Kafka } from 'kafkajs';
import { RouteRepository } from '@libs/alerting';
import { commonSpec, parseConfig } from '@libs/config';
import { agentKey, topicsIn, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import {
  AvroSerde,
  BatchProducer,
  createKafka,
  DEFAULT_MAX_SEND_BYTES,
  provisionTopics,
  sendInRequests,
} from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { runEvent } from '../test/support/fixtures';
import { peakRssMb, quick, round, startBuiltService, stop } from './support';

const SERVICES = {
  pricing: 18601,
  aggregator: 18602,
  recorder: 18603,
  detector: 18604,
  'alert-router': 18605,
};
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** The pids of the local stack's broker and of every PostgreSQL process, to count their CPU too (best effort). */
function stackPids(): Record<string, number[]> {
  const pids: Record<string, number[]> = { kafka: [], postgresql: [] };
  try {
    pids.kafka.push(Number(readFileSync(join(__dirname, '../.burnrate/infra/kafka/pid'), 'utf8')));
  } catch {
    // not our local broker
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres')
        pids.postgresql.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * CPU seconds a process has used (user + system), from /proc (Linux); with `reaped`, also its children that have ended
 * (PostgreSQL's postmaster: the backends of closed connections).
 */
function cpuSeconds(pid: number | undefined, reaped = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // utime, stime, cutime, cstime in clock ticks (USER_HZ = 100)
    return (f[11] + f[12] + (reaped ? f[13] + f[14] : 0)) / 100;
  } catch {
    return NaN;
  }
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function backgroundRun(ns: string, team: string, i: number, now: number): RunEvent {
  const finished = now - 3_000_000 + ((i * 9) % 2_900_000); // spread over the last 50 minutes
  return runEvent({
    run_id: `${ns}-${i}`,
    agent_id: `agent-${i % 300}`,
    team,
    model: i % 3 ? 'gpt-4o-mini' : 'claude-haiku-4-5',
    provider: i % 3 ? 'openai' : 'anthropic',
    input_tokens: 2000 + (i % 900),
    output_tokens: 300 + (i % 200),
    cache_read_tokens: i % 3 ? 500 : 0,
    started_at: finished - 1500,
    finished_at: finished,
    customer_id: i % 11 ? `cus-${i % 40}` : null,
    feature: `feature-${i % 6}`,
    session_id: `s-${i % 300}-${Math.floor(i / 3000)}`,
    source: 'kafka',
  });
}

async function committed(admin: Admin, group: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function endOffsets(admin: Admin, topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
}

function receiver(port: number, arrivals: Map<string, number>): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      try {
        const data = (JSON.parse(body) as { data?: { trigger_run_id?: string } }).data;
        if (data?.trigger_run_id && !arrivals.has(data.trigger_run_id))
          arrivals.set(data.trigger_run_id, Date.now());
      } catch {
        // not ours
      }
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

/** Two bare consume-and-produce hops (c1 -> c2 -> c3) with kafkajs over the same broker: records/s through both. */
async function bareChain(kafka: Kafka, admin: Admin, ns: string, values: { key: string; value: Buffer }[]) {
  const T = [`${ns}-c1`, `${ns}-c2`, `${ns}-c3`];
  await admin.createTopics({
    topics: T.map((topic) => ({ topic, numPartitions: 6, replicationFactor: 1 })),
    waitForLeaders: true,
  });
  const producer = new BatchProducer(kafka, { lingerMs: 5 });
  await producer.connect();
  for (let i = 0; i < values.length; i += 5000)
    await producer.send(values.slice(i, i + 5000).map((v) => ({ topic: T[0], ...v })));
  const hops = await Promise.all(
    [0, 1].map(async (h) => {
      const consumer = kafka.consumer({ groupId: `${ns}-hop${h}`, maxWaitTimeInMs: 20 });
      const out = kafka.producer({ idempotent: true });
      await Promise.all([consumer.connect(), out.connect()]);
      await consumer.subscribe({ topic: T[h], fromBeginning: true });
      return { consumer, out };
    }),
  );
  const started = Date.now();
  for (const [h, { consumer, out }] of hops.entries())
    await consumer.run({
      eachBatch: async ({ batch }) => {
        // In requests under the broker's message.max.bytes, as the services send theirs.
        await sendInRequests(
          out,
          batch.messages.map((m) => ({ topic: T[h + 1], key: m.key, value: m.value })),
          { compression: CompressionTypes.None, maxBytes: DEFAULT_MAX_SEND_BYTES },
        );
      },
    });
  while ((await endOffsets(admin, T[2])) < values.length) await sleep(50);
  const rate = values.length / ((Date.now() - started) / 1000);
  await Promise.all(hops.flatMap(({ consumer, out }) => [consumer.disconnect(), out.disconnect()]));
  await producer.disconnect();
  await admin.deleteTopics({ topics: T });
  return rate;
}

/** PostgreSQL's bulk load (COPY via psql) of `n` rows shaped like `runs`, into a copy of the table with its keys. */
function copyRate(databaseUrl: string, runs: RunEvent[]): number {
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-copy-'));
  const file = join(dir, 'runs.csv');
  const iso = (t: number) => new Date(t).toISOString();
  writeFileSync(
    file,
    runs
      .map(
        (r) =>
          `${r.run_id},${iso(r.finished_at)},${iso(r.started_at)},${r.team},${r.agent_id},${r.model},openai,success,${r.customer_id ?? ''},${r.feature},${r.input_tokens},0,0,${r.output_tokens},1000,0,0,2000,3000,USD,priced,${iso(r.finished_at)}`,
      )
      .join('\n'),
  );
  const psql = (sql: string) => execFileSync('psql', [databaseUrl, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  psql('drop table if exists bench_copy; create table bench_copy (like runs including all)');
  const started = process.hrtime.bigint();
  psql(
    `\\copy bench_copy (run_id, finished_at, started_at, team, agent_id, model, provider, status, customer_id, feature, uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos, cache_read_cost_nanos, cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status, priced_at) from '${file}' csv`,
  );
  const rate = runs.length / (Number(process.hrtime.bigint() - started) / 1e9);
  psql('drop table bench_copy');
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function main(): Promise<void> {
  const config = parseConfig(commonSpec, process.env);
  const ns = `e2e${Date.now().toString(36)}`;
  const T = topicsIn(ns);
  const kafka = createKafka(config, 'bench-e2e', new JsonLogger({ bench: 'e2e' }, 'error'));
  const admin = kafka.admin();
  await admin.connect();
  await provisionTopics(admin, config, Object.values(T));
  const serde = await AvroSerde.create(config, [T.runsRaw]);
  const pool = createPool(config.DATABASE_URL, 2);
  const team = `bench-${ns}`;
  const alertTeam = `alerts-${ns}`;
  const arrivals = new Map<string, number>();
  const hook = await receiver(18599, arrivals);
  await new RouteRepository(pool, undefined, { allowList: '127.0.0.1' }).create({
    team: alertTeam,
    match: {},
    destinations: [{ type: 'webhook', url: 'http://127.0.0.1:18599/hook', secret: SECRET }],
  });

  // 1. Throughput: the runs wait on runs.raw before the services start (as the ceiling's chain has its records before
  // it starts), so the bench's own producer takes no CPU from them; the sustained rate is the slope of stored and
  // counted runs between 10% and 90% of the total (start-up and the last batches left out).
  const n = quick ? 60_000 : 300_000;
  const now = Date.now();
  const runs = Array.from({ length: n }, (_, i) => backgroundRun(ns, team, i, now));
  const encoded = runs.map((r) => ({ key: agentKey(r.team, r.agent_id), value: serde.encode(T.runsRaw, r) }));
  const producer = new BatchProducer(kafka, { lingerMs: 5 });
  await producer.connect();
  for (let i = 0; i < n; i += 5000)
    await producer.send(encoded.slice(i, i + 5000).map((e) => ({ topic: T.runsRaw.name, ...e })));

  // the broker and PostgreSQL, all their processes (looked up each time: backends come and go with connections, and
  // those gone are in the postmaster's reaped children)
  const stackCpu = () =>
    Object.fromEntries(
      Object.entries(stackPids()).map(([k, pids]) => [
        k,
        pids.reduce((sum, pid) => sum + (cpuSeconds(pid, k === 'postgresql') || 0), 0),
      ]),
    );
  const started = Date.now();
  const children = Object.fromEntries(
    await Promise.all(
      Object.entries(SERVICES).map(
        async ([name, port]) =>
          [
            name,
            await startBuiltService(name, port, {
              BURNRATE_TOPIC_NAMESPACE: ns,
              CONSUMER_GROUP: `${name}-${ns}`,
              INSTANCE_ID: ns,
              RETRY_WEBHOOK: '200ms,5s,1h',
              ALERT_DESTINATION_ALLOWLIST: '127.0.0.1',
            }),
          ] as const,
      ),
    ),
  );

  // Where the machine's two cores went, over the same 10%-90% window: CPU per 1,000 runs in each service, the broker
  // and PostgreSQL.
  const cpuNow = () => ({
    ...Object.fromEntries(Object.entries(children).map(([k, c]) => [k, cpuSeconds(c.pid)])),
    ...stackCpu(),
  });
  const samples: { at: number; done: number; cpu?: Record<string, number> }[] = [];
  for (;;) {
    const [stored, counted] = await Promise.all([
      committed(admin, `recorder-${ns}`, T.runsPriced.name),
      committed(admin, `aggregator-${ns}`, T.runsPriced.name),
    ]);
    const done = Math.min(stored, counted);
    const crossed =
      samples.length > 0 && [0.1, 0.9].some((f) => samples.at(-1)!.done < f * n && done >= f * n);
    samples.push({ at: Date.now(), done, cpu: crossed || done >= n ? cpuNow() : undefined });
    if (stored >= n && counted >= n) break;
    await sleep(100);
  }
  const e2eSeconds = (Date.now() - started) / 1000;
  const from = samples.find((x) => x.cpu && x.done >= 0.1 * n)!;
  const to = samples.find((x) => x.cpu && x.done >= 0.9 * n)!;
  const e2e = (to.done - from.done) / ((to.at - from.at) / 1000);
  const cpu = Object.fromEntries(
    Object.entries(to.cpu!).map(([k, after]) => [
      k,
      round(((after - from.cpu![k]) * 1e6) / (to.done - from.done), 1),
    ]),
  );
  const { rows } = await pool.query<{ n: string }>('select count(*) as n from runs where team = $1', [team]);
  if (Number(rows[0].n) !== n) throw new Error(`stored ${rows[0].n} runs, expected ${n}`);
  console.log(
    `e2e: ${n} runs raw -> priced -> stored + stats: ${round(e2e)} runs/s sustained (10%-90%); all of them ${round(e2eSeconds, 1)} s from the services' start`,
  );
  console.log(`CPU ms per 1,000 runs, by service and for the broker and PostgreSQL: ${JSON.stringify(cpu)}`);

  // 2. Alert latency under a steady background load.
  const rate = Math.round(e2e / 3);
  let background = 0;
  let loading = true;
  const load = (async () => {
    while (loading) {
      const tick = Date.now();
      const batch = Array.from({ length: Math.ceil(rate / 10) }, () =>
        backgroundRun(`${ns}-bg`, team, background++, Date.now()),
      );
      await producer.send(
        batch.map((r) => ({
          topic: T.runsRaw.name,
          key: agentKey(r.team, r.agent_id),
          value: serde.encode(T.runsRaw, r),
        })),
      );
      await sleep(Math.max(0, 100 - (Date.now() - tick)));
    }
  })();
  await sleep(2000);
  const trials = quick ? 12 : 40;
  const latencies: number[] = [];
  for (let i = 0; i < trials; i++) {
    const at = Date.now();
    const run = runEvent({
      run_id: `${ns}-trial-${i}`,
      agent_id: 'pager-agent',
      team: alertTeam,
      model: `bench-unknown-${ns}-${i}`,
      provider: 'openai',
      started_at: at - 1000,
      finished_at: at,
      customer_id: 'acme',
      source: 'kafka',
    });
    await producer.send([
      { topic: T.runsRaw.name, key: agentKey(alertTeam, 'pager-agent'), value: serde.encode(T.runsRaw, run) },
    ]);
    const deadline = at + 15_000;
    while (!arrivals.has(run.run_id) && Date.now() < deadline) await sleep(5);
    const arrived = arrivals.get(run.run_id);
    if (arrived === undefined) throw new Error(`no alert for trial ${i} within 15 s`);
    latencies.push(arrived - at);
    await sleep(250);
  }
  loading = false;
  await load;
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `alert latency (run published -> signed webhook received), ${trials} trials under ${rate} runs/s of background load: p50 ${p50} ms, p99 ${p99} ms`,
  );

  // 4. Peak memory of each service.
  const rss = Object.fromEntries(
    Object.entries(children).map(([name, child]) => [name, peakRssMb(child.pid)]),
  );
  console.log(`peak RSS (MB): ${JSON.stringify(rss)}`);
  await Promise.all(Object.values(children).map((c) => stop(c)));
  await producer.disconnect();
  hook.close();

  // 3. The ceiling.
  const chain = await bareChain(kafka, admin, ns, encoded);
  const copy = copyRate(config.DATABASE_URL, runs);
  const ceiling = Math.min(chain, copy);
  console.log(
    `ceiling: bare kafkajs 2-hop chain ${round(chain)} records/s; PostgreSQL COPY ${round(copy)} rows/s; ours ${round((100 * e2e) / ceiling)}% of the lower`,
  );
  // Leave the local database as it was: the bench's teams and everything recorded for them.
  for (const table of [
    'runs',
    'spend_hourly',
    'agent_stats',
    'anomalies',
    'alert_deliveries',
    'alert_routes',
  ])
    await pool.query(`delete from ${table} where team = any($1)`, [[team, alertTeam]]);
  await pool.query("delete from alert_outbox where anomaly->>'team' = $1", [alertTeam]);
  await pool.end();
  await admin.disconnect();
  console.log(
    JSON.stringify({
      e2e_runs_per_s: round(e2e),
      ceiling_runs_per_s: round(ceiling),
      ceiling_fraction: round(e2e / ceiling, 3),
      ceiling_kafka_chain_per_s: round(chain),
      ceiling_pg_copy_rows_per_s: round(copy),
      alert_latency_p50_ms: p50,
      alert_latency_p99_ms: p99,
      alert_background_runs_per_s: rate,
      peak_rss_mb: rss,
      e2e_cpu_ms_per_1k_runs: cpu,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
