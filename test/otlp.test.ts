import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { topicsIn, type RunEvent } from '@libs/contracts';
import { AvroSerde } from '@libs/kafka';
import { createKey, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const PORT = 18093;
const NS = `otlp${uid()}`;
const Topics = topicsIn(NS);
const HOLD_MS = 2000;
const ROOT = resolve(__dirname, '..');
const VENV = join(process.env.BURNRATE_TOOLS_DIR ?? join(ROOT, '.burnrate', 'tools'), 'otel-python');
const PYTHON = join(VENV, 'bin', 'python');

/** OpenTelemetry's Python SDK and OTLP/HTTP protobuf exporter from PyPI, in a venv of the tools directory (once). */
function python(): string {
  if (!existsSync(PYTHON)) {
    execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    execFileSync(
      join(VENV, 'bin', 'pip'),
      [
        'install',
        '--quiet',
        '--disable-pip-version-check',
        'opentelemetry-sdk>=1.30,<2',
        'opentelemetry-exporter-otlp-proto-http>=1.30,<2',
      ],
      { stdio: 'inherit' },
    );
  }
  return PYTHON;
}

async function runsOfTrace(
  kafka: Kafka,
  serde: AvroSerde,
  topics: ReturnType<typeof topicsIn>,
  traceId: string,
  expected: number,
): Promise<RunEvent[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const all = await readTopic<RunEvent>(kafka, topics.runsRaw, { expected: 1, serde, settleMs: 1000 });
    const mine = all.map((r) => r.value).filter((r) => r.run_id.startsWith(`${traceId}-`));
    if (mine.length >= expected || Date.now() > deadline) return mine;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const traceId = () =>
  uid()
    .padEnd(32, '0')
    .slice(0, 32)
    .replace(/[^0-9a-f]/g, 'a');
const spanId = () =>
  uid()
    .padEnd(16, '0')
    .slice(-16)
    .replace(/[^0-9a-f]/g, 'b');
const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;

function jsonRequest(spans: Record<string, unknown>[]) {
  return { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans }] }] };
}

function chatSpan(trace: string, attributes: Record<string, unknown>, parentSpanId?: string) {
  const end = Date.now() - 1000;
  return {
    traceId: trace,
    spanId: spanId(),
    ...(parentSpanId && { parentSpanId }),
    name: 'chat',
    startTimeUnixNano: ns(end - 500),
    endTimeUnixNano: ns(end),
    attributes: Object.entries(attributes).map(([k, v]) => ({
      key: k,
      value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
    })),
  };
}

/**
 * OpenTelemetry's own JS SDK exports GenAI spans to POST /v1/traces of an ingestion process (real Kafka, registry and
 * PostgreSQL for the API key), as an instrumented agent would: each span is exported when it ends, so the model calls
 * reach burnrate in an earlier request than the agent spans around them, and in another encoding here (protobuf, gzip,
 * then JSON). The runs on burnrate.runs.raw carry the call tree all the same.
 */
describe('POST /v1/traces (OpenTelemetry’s JS and Python SDKs → ingestion → runs.raw)', () => {
  let svc: ServiceProcess;
  let kafka: Kafka;
  let serde: AvroSerde;
  let team: string;
  let key: string;

  beforeAll(async () => {
    team = `team-${uid()}`;
    key = (await createKey(team)).key;
    svc = await startService('ingestion', PORT, {
      BURNRATE_TOPIC_NAMESPACE: NS,
      OTEL_TRACE_HOLD_MS: String(HOLD_MS),
      KAFKA_TOPIC_PARTITIONS: '3',
    });
    kafka = testKafka(config);
    serde = await AvroSerde.create(config, [Topics.runsRaw]);
  });

  afterAll(async () => {
    await svc?.stop();
  });

  const runsOf = (traceId: string, expected: number) => runsOfTrace(kafka, serde, Topics, traceId, expected);

  it('turns an agent, its model calls and a sub-agent into runs with their call tree, across requests', async () => {
    const out = execFileSync(
      process.execPath,
      ['-r', '@swc-node/register', resolve(__dirname, 'support/otel-agent.ts'), `${svc.url}/v1/traces`, key],
      { cwd: resolve(__dirname, '..'), encoding: 'utf8', timeout: 60_000 },
    );
    const { traceId, spans } = JSON.parse(out.trim().split('\n').pop()!) as {
      traceId: string;
      spans: Record<'agent' | 'http' | 'gpt' | 'claude' | 'tool' | 'sub' | 'gemini', string>;
    };
    const { agent, http, gpt, claude, tool, sub, gemini } = spans;

    const runs = await runsOf(traceId, 5);
    const byId = new Map(runs.map((r) => [r.run_id, r]));
    const id = (spanId: string) => `${traceId}-${spanId}`;
    expect(runs).toHaveLength(5);
    expect([...byId.keys()].sort()).toEqual([agent, gpt, claude, sub, gemini].map(id).sort());
    expect(byId.has(id(http))).toBe(false);
    expect(byId.has(id(tool))).toBe(false);
    for (const r of runs) {
      expect(r.team).toBe(team);
      expect(r.source).toBe('otel');
      expect(r.session_id).toBe('conv-42');
      expect(r.feature).toBe('inbox-autoreply');
    }
    const pick = (r: RunEvent | undefined) =>
      r && {
        agent_id: r.agent_id,
        parent_run_id: r.parent_run_id,
        model: r.model,
        provider: r.provider,
        tokens: [r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens],
        customer_id: r.customer_id,
        tool: r.tool,
        status: r.status,
      };
    expect(pick(byId.get(id(agent)))).toEqual({
      agent_id: 'planner',
      parent_run_id: null,
      model: 'agent',
      provider: 'burnrate',
      tokens: [0, 0, null, null],
      customer_id: 'acme',
      tool: null,
      status: 'success',
    });
    expect(pick(byId.get(id(gpt)))).toEqual({
      agent_id: 'planner',
      parent_run_id: id(agent), // through the HTTP span between them
      model: 'gpt-4o-2024-08-06',
      provider: 'openai',
      tokens: [1200, 300, 1000, null], // OpenAI's input count holds its cached tokens, as the conventions say
      customer_id: 'acme',
      tool: null,
      status: 'success',
    });
    expect(pick(byId.get(id(claude)))).toEqual({
      agent_id: 'planner',
      parent_run_id: id(agent),
      model: 'claude-sonnet-4-5-20250929',
      provider: 'anthropic',
      tokens: [300, 80, 500, 100], // Anthropic's input count is without its cache reads and writes
      customer_id: 'acme',
      tool: null,
      status: 'success',
    });
    expect(pick(byId.get(id(sub)))).toEqual({
      agent_id: 'researcher',
      parent_run_id: id(agent),
      model: 'agent',
      provider: 'burnrate',
      tokens: [0, 0, null, null],
      customer_id: 'globex',
      tool: 'web_search',
      status: 'success',
    });
    expect(pick(byId.get(id(gemini)))).toEqual({
      agent_id: 'researcher',
      parent_run_id: id(sub),
      model: 'gemini-2.5-flash',
      provider: 'google',
      tokens: [640, 64, null, null],
      customer_id: 'globex',
      tool: null,
      status: 'error',
    });
    const gptRun = byId.get(id(gpt))!;
    expect(gptRun.finished_at).toBeGreaterThanOrEqual(gptRun.started_at);
    expect(gptRun.finished_at).toBeLessThanOrEqual(byId.get(id(agent))!.finished_at);
  });

  it('takes the spans of OpenTelemetry’s Python SDK and exporter the same way', async () => {
    const out = execFileSync(
      python(),
      [join(__dirname, 'support', 'otel_agent.py'), `${svc.url}/v1/traces`, key],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    const ids = JSON.parse(out.trim().split('\n').pop()!) as {
      traceId: string;
      agent: string;
      model: string;
    };

    const runs = await runsOf(ids.traceId, 2);
    const byId = new Map(runs.map((r) => [r.run_id.slice(ids.traceId.length + 1), r]));
    expect(runs).toHaveLength(2);
    expect(byId.get(ids.agent)).toMatchObject({
      agent_id: 'py-triage',
      model: 'agent',
      parent_run_id: null,
      session_id: 'py-conv',
    });
    expect(byId.get(ids.model)).toMatchObject({
      agent_id: 'py-triage',
      parent_run_id: `${ids.traceId}-${ids.agent}`,
      provider: 'bedrock',
      model: 'anthropic.claude-3-5-haiku-20241022-v1:0',
      input_tokens: 100, // Claude on Bedrock: the conventions' 700 less the 600 cache reads
      output_tokens: 50,
      cache_read_tokens: 600,
      customer_id: 'py-customer',
      session_id: 'py-conv',
      team,
      source: 'otel',
    });
  }, 240_000);

  const post = (body: string | Buffer, headers: Record<string, string>) =>
    fetch(`${svc.url}/v1/traces`, { method: 'POST', headers, body });

  it('refuses a malformed GenAI span in partialSuccess while the good span beside it becomes a run', async () => {
    const t = traceId();
    const good = chatSpan(t, {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 10,
      'gen_ai.usage.output_tokens': 2,
    });
    const noModel = chatSpan(t, { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 10 });
    const negative = chatSpan(t, {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.usage.output_tokens': -3,
    });
    const res = await post(gzipSync(JSON.stringify(jsonRequest([good, noModel, negative]))), {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(body.partialSuccess.rejectedSpans).toBe('2');
    expect(body.partialSuccess.errorMessage).toContain(`span ${noModel.spanId}: no gen_ai.response.model`);
    expect(body.partialSuccess.errorMessage).toContain(
      `span ${negative.spanId}: gen_ai.usage.output_tokens must be a non-negative integer`,
    );

    const runs = await runsOf(t, 1);
    expect(runs.map((r) => [r.run_id, r.agent_id, r.parent_run_id])).toEqual([
      [`${t}-${good.spanId}`, 'unknown', null],
    ]);
  });

  it('answers 401 without a valid key, 415 for another content type, 400 for an undecodable body', async () => {
    const body = JSON.stringify(jsonRequest([]));
    expect((await post(body, { 'content-type': 'application/json' })).status).toBe(401);
    expect(
      (await post(body, { 'content-type': 'application/json', authorization: 'Bearer br_nope' })).status,
    ).toBe(401);
    const auth = { authorization: `Bearer ${key}` };
    expect((await post(body, { ...auth, 'content-type': 'text/plain' })).status).toBe(415);
    expect(
      (await post(body, { ...auth, 'content-type': 'application/json', 'content-encoding': 'br' })).status,
    ).toBe(415);
    const garbage = await post(Buffer.from([0x0a, 0xff, 0xff, 0xff]), {
      ...auth,
      'content-type': 'application/x-protobuf',
    });
    expect(garbage.status).toBe(400);
    expect(
      (
        await post(Buffer.from('not gzip'), {
          ...auth,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        })
      ).status,
    ).toBe(400);
    const empty = await post(Buffer.alloc(0), { ...auth, 'content-type': 'application/x-protobuf' });
    expect(empty.status).toBe(200);
    expect(empty.headers.get('content-type')).toBe('application/x-protobuf');
    // POST /v1/runs still answers protobuf 415
    const runs = await fetch(`${svc.url}/v1/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-protobuf' },
      body: Buffer.from([1]),
    });
    expect(runs.status).toBe(415);
  });
});

/**
 * Two ingestion replicas, each receiving part of a trace, and both killed before the trace was quiet: Kafka routed the
 * trace's spans to one partition, and the offsets were committed only up to what had been turned into runs, so a third
 * replica started afterwards reads the spans again and publishes the runs with their ancestry.
 */
describe('POST /v1/traces across replicas and crashes', () => {
  const ns2 = `otlpx${uid()}`;
  const topics = topicsIn(ns2);
  const env = {
    BURNRATE_TOPIC_NAMESPACE: ns2,
    KAFKA_TOPIC_PARTITIONS: '3',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
  };
  let kafka: Kafka;
  let serde: AvroSerde;
  let key: string;
  const started: ServiceProcess[] = [];

  beforeAll(async () => {
    key = (await createKey(`team-${uid()}`)).key;
    kafka = testKafka(config);
    serde = await AvroSerde.create(config, [topics.runsRaw]);
  });

  afterAll(async () => {
    for (const s of started) await s.stop('SIGKILL');
  });

  const postTo = (svc: ServiceProcess, spans: Record<string, unknown>[]) =>
    fetch(`${svc.url}/v1/traces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(jsonRequest(spans)),
    });

  it('loses no span held by replicas that crashed, and resolves a trace whose spans reached both', async () => {
    const holding = { ...env, OTEL_TRACE_HOLD_MS: '600000', OTEL_TRACE_MAX_HOLD_MS: '600000' };
    const [a, b] = await Promise.all([
      startService('ingestion', PORT + 1, holding),
      startService('ingestion', PORT + 2, holding),
    ]);
    started.push(a, b);
    const t = traceId();
    const agent = chatSpan(t, {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'crash-agent',
    });
    const http = chatSpan(t, { 'http.request.method': 'POST' }, agent.spanId);
    const model = chatSpan(
      t,
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.usage.input_tokens': 21,
        'gen_ai.usage.output_tokens': 3,
      },
      http.spanId,
    );
    expect((await postTo(a, [model])).status).toBe(200);
    expect((await postTo(b, [http, agent])).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3000)); // consumed and held, offsets committed as far as they may be
    expect(await runsOfTraceNow(t)).toEqual([]);

    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]);
    const c = await startService('ingestion', PORT + 3, { ...env, OTEL_TRACE_HOLD_MS: '1000' });
    started.push(c);

    const runs = await runsOfTrace(kafka, serde, topics, t, 2);
    expect(runs.map((r) => [r.run_id, r.agent_id, r.parent_run_id, r.input_tokens]).sort()).toEqual(
      [
        [`${t}-${agent.spanId}`, 'crash-agent', null, 0],
        [`${t}-${model.spanId}`, 'crash-agent', `${t}-${agent.spanId}`, 21],
      ].sort(),
    );
  }, 180_000);

  async function runsOfTraceNow(t: string): Promise<RunEvent[]> {
    const all = await readTopic<RunEvent>(kafka, topics.runsRaw, {
      expected: 0,
      serde,
      settleMs: 1000,
      timeoutMs: 5000,
    });
    return all.map((r) => r.value).filter((r) => r.run_id.startsWith(`${t}-`));
  }
});
