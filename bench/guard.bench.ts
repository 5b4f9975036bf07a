/**
 * The guard's decision latency through the real api process: 100,000 controls on the agent-controls topic (as the
 * detector and manual blocks leave them) read into every replica's memory, then GET /v1/guard under load from
 * autocannon (an HTTP load generator in this process), over many agents of the asking team. Prints decisions/s and
 * latency percentiles, and how long the api took to be ready with the whole topic read.
 */
import autocannon from 'autocannon';
import { ApiKeyRepository } from '@libs/auth';
import { commonSpec, parseConfig } from '@libs/config';
import { Topics, controlKey, type AgentControl } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, createKafka, provisionTopics, type OutboundRecord } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { metricValue, peakRssMb, quick, round, startBuiltService, stop } from './support';

const PORT = 18582;
const CONTROLS = 100_000;
const TEAMS = 1_000;
const AGENTS = 100;
/** The team whose key asks: its agents are those the load asks about. */
const TEAM = 'guard-bench-0';

function control(i: number): [string, AgentControl] {
  const team = `guard-bench-${i % TEAMS}`;
  const agent = `agent-${Math.floor(i / TEAMS) % AGENTS}`;
  // each team: one control per agent, and 4 budgets on all its agents (2 of them for one customer)
  const teamWide = Math.floor(i / TEAMS) % 25 === 7;
  const now = Date.now();
  const value: AgentControl = {
    team,
    agent_id: teamWide ? null : agent,
    customer_id: teamWide && Math.floor(i / TEAMS) % 2 === 0 ? `cus_${Math.floor(i / TEAMS) % 7}` : null,
    tool: null,
    action: i % 3 === 0 ? 'alert' : 'block',
    source: teamWide ? 'budget' : 'rule',
    source_id: `src-${i}`,
    reason: `spent $${(10 + (i % 90)).toFixed(2)} in the last hour, over its $10 limit`,
    metric: 'cost',
    amount: 10,
    observed: 10 + (i % 90),
    window_s: 3600,
    currency: 'USD',
    since: now - 60_000,
    until: i % 10 === 0 ? null : now + 3_600_000,
    actor: null,
    incident_dedupe_key: null,
  };
  return [teamWide ? controlKey.budget(`src-${i}`, team) : controlKey.rule(`src-${i}`, team, agent), value];
}

async function writeControls(): Promise<void> {
  const config = parseConfig(commonSpec, process.env);
  const kafka = createKafka(config, 'guard-bench', new JsonLogger({ service: 'bench' }, 'warn'));
  const admin = kafka.admin();
  await admin.connect();
  await provisionTopics(admin, config, [Topics.agentControls]);
  await admin.disconnect();
  const serde = await AvroSerde.create(config, [Topics.agentControls]);
  const producer = new BatchProducer(kafka);
  await producer.connect();
  const records: OutboundRecord[] = [];
  for (let i = 0; i < CONTROLS; i++) {
    const [key, value] = control(i);
    records.push({ topic: Topics.agentControls.name, key, value: serde.encode(Topics.agentControls, value) });
  }
  await producer.send(records);
  await producer.disconnect();
}

async function load(key: string, connections: number, seconds: number, overallRate?: number) {
  const result = await autocannon({
    url: `http://127.0.0.1:${PORT}`,
    headers: { authorization: `Bearer ${key}` },
    requests: Array.from({ length: AGENTS }, (_, a) => ({
      method: 'GET' as const,
      path: `/v1/guard?agent_id=agent-${a}${a % 4 === 0 ? `&customer_id=cus_${a % 7}` : ''}`,
    })),
    connections,
    duration: seconds,
    ...(overallRate && { overallRate }),
  });
  return {
    perS: round(result['2xx'] / (result.duration || seconds)),
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
  const { key } = await new ApiKeyRepository(pool).create(TEAM, 'guard bench', 'team');
  await pool.end();
  await writeControls();
  const started = Date.now();
  const api = await startBuiltService('api', PORT);
  const readyS = round((Date.now() - started) / 1000, 1);
  const controls = await metricValue(PORT, 'burnrate_guard_view_controls');
  // at least: other benchmarks of the same run (guard-block) may have added their own
  if (controls < CONTROLS) throw new Error(`the api holds ${controls} controls, not ${CONTROLS}`);
  const seconds = quick ? 5 : 15;
  await load(key, 8, 2); // warm-up
  // 8 callers asking back to back (SDKs cache a decision for seconds: this is many thousands of agents), then as many
  // as 32 connections can ask (the client shares the machine's two cores with the api)
  const steady = await load(key, 8, seconds);
  const run = await load(key, 32, seconds);
  // the decision alone, inside the api (the rest of a request's time is HTTP, auth and JSON)
  const decideUs = round(
    ((await metricValue(PORT, 'burnrate_guard_decision_seconds_sum')) /
      (await metricValue(PORT, 'burnrate_guard_decision_seconds_count'))) *
      1e6,
    1,
  );
  const rss = peakRssMb(api.pid);
  await stop(api);
  console.log(
    `guard, ${CONTROLS} controls in memory (ready in ${readyS} s): 8 callers, ${steady.perS} decisions/s, p50 ${steady.p50} ms, p99 ${steady.p99} ms; saturated ${run.perS} decisions/s, p50 ${run.p50} ms, p99 ${run.p99} ms, errors ${steady.errors + run.errors}; the decision itself ${decideUs} µs on average`,
  );
  console.log(
    JSON.stringify({
      guard_decision_p50_ms: steady.p50,
      guard_decision_p99_ms: steady.p99,
      guard_decisions_8_callers_per_s: steady.perS,
      guard_decision_saturated_p99_ms: run.p99,
      guard_decisions_per_s: run.perS,
      guard_decide_mean_us: decideUs,
      guard_errors: steady.errors + run.errors,
      guard_view_controls: controls,
      guard_view_ready_s: readyS,
      guard_api_peak_rss_mb: rss,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
