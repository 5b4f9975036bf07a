import { HttpException } from '@nestjs/common';
import * as avro from 'avsc';
import type { Principal } from '@libs/auth';
import { Topics, loadSchemas, type RejectedRun, type RunEvent, type TopicSpec } from '@libs/contracts';
import type { KafkaService, OutboundRecord } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { RunsService, type IngestionConfig } from './runs.service';

const schemas = loadSchemas();
const types = new Map<string, avro.Type>(
  [Topics.runsRaw, Topics.runsRejected].map((t) => [
    t.name,
    avro.Type.forSchema(schemas.get(t.valueSchema!)!.schema as avro.Schema),
  ]),
);

/** The Kafka side replaced: real Avro encoding of our schemas (no registry), a producer the test controls. */
class FakeKafka {
  sent: OutboundRecord[][] = [];
  next: () => Promise<void> = () => Promise.resolve();
  readonly serde = {
    encode: (topic: TopicSpec, value: unknown): Buffer => types.get(topic.name)!.toBuffer(value),
  };
  readonly producer = {
    send: (records: OutboundRecord[]): Promise<void> => {
      this.sent.push(records);
      return this.next();
    },
  };

  decoded<T>(topic: TopicSpec): { key: string | null; value: T }[] {
    return this.sent
      .flat()
      .filter((r) => r.topic === topic.name)
      .map((r) => ({ key: r.key as string | null, value: types.get(topic.name)!.fromBuffer(r.value!) as T }));
  }
}

const support: Principal = { keyId: 'k1', team: 'support', role: 'team' };
const admin: Principal = { keyId: 'k0', team: 'platform', role: 'admin' };
const finished = Date.now() - 60_000;

function run(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    run_id: `run-${Math.random().toString(36).slice(2)}`,
    agent_id: 'support-triage',
    model: 'gpt-4o',
    input_tokens: 2480,
    output_tokens: 514,
    started_at: new Date(finished - 3000).toISOString(),
    finished_at: new Date(finished).toISOString(),
    status: 'success',
    ...overrides,
  };
}

async function refusal(
  promise: Promise<unknown>,
): Promise<{ status: number; body: unknown; headers: unknown }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof HttpException) {
      return {
        status: err.getStatus(),
        body: err.getResponse(),
        headers: (err as HttpException & { headers?: unknown }).headers,
      };
    }
    throw err;
  }
  throw new Error('expected a refusal');
}

/** A counter's series by one label, those still at 0 included. */
async function series(metrics: Metrics, name: string, label: string): Promise<Record<string, number>> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels[label]), v.value]));
}

/** A counter's series by one label that have counted something. */
async function counted(metrics: Metrics, name: string, label: string): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await series(metrics, name, label)).filter(([, n]) => n > 0));
}

describe(RunsService.name, () => {
  let kafka: FakeKafka;
  let metrics: Metrics;
  let config: IngestionConfig;
  let sut: RunsService;

  beforeEach(() => {
    kafka = new FakeKafka();
    metrics = new Metrics('test');
    config = { MAX_BATCH_RUNS: 5, PRODUCE_TIMEOUT_MS: 50, MAX_IN_FLIGHT_RUNS: 8, RETRY_AFTER_S: 7 };
    sut = new RunsService(
      config as never,
      kafka as unknown as KafkaService,
      new JsonLogger({}, 'fatal', () => undefined),
      metrics,
    );
  });

  it('publishes valid runs keyed by <team>/<agent_id> with the team of the key, in one produce call', async () => {
    const runs = [run(), run({ agent_id: 'research-agent', team: 'support', tags: { env: 'prod' } })];
    const sutResult = await sut.ingest(runs, support);

    expect(sutResult).toEqual({
      accepted: 2,
      rejected: 0,
      results: [
        { index: 0, run_id: runs[0].run_id, status: 'accepted' },
        { index: 1, run_id: runs[1].run_id, status: 'accepted' },
      ],
    });
    expect(kafka.sent).toHaveLength(1);
    const raw = kafka.decoded<RunEvent>(Topics.runsRaw);
    expect(raw.map((r) => r.key)).toEqual(['support/support-triage', 'support/research-agent']);
    expect(raw[1].value).toMatchObject({
      run_id: runs[1].run_id,
      team: 'support',
      finished_at: finished,
      source: 'http',
      tags: { env: 'prod' },
    });
  });

  it('answers each run on its own: the bad one rejected with every failing field, kept on the rejected topic', async () => {
    const good = run();
    const bad = run({ input_tokens: -1, status: 'ok', quality_score: 1.5 });
    const sutResult = await sut.ingest([bad, good], support);

    expect(sutResult.accepted).toBe(1);
    expect(sutResult.results).toEqual([
      {
        index: 0,
        run_id: bad.run_id,
        status: 'rejected',
        errors: [
          { field: 'input_tokens', message: 'must not be negative' },
          { field: 'status', message: 'must be one of success, error, timeout, cancelled' },
          { field: 'quality_score', message: 'must be a number from 0 to 1' },
        ],
      },
      { index: 1, run_id: good.run_id, status: 'accepted' },
    ]);
    expect(kafka.decoded<RunEvent>(Topics.runsRaw).map((r) => r.value.run_id)).toEqual([good.run_id]);
    const [rejected] = kafka.decoded<RejectedRun>(Topics.runsRejected);
    expect(rejected.key).toBe('support/support-triage');
    expect(rejected.value).toMatchObject({
      run_id: bad.run_id,
      team: 'support',
      reason: 'validation_failed',
    });
    expect(JSON.parse(rejected.value.original.toString())).toEqual(bad);

    expect(await counted(metrics, 'burnrate_runs_rejected_total', 'reason')).toEqual({
      input_tokens: 1,
      status: 1,
      quality_score: 1,
    });
    expect(await counted(metrics, 'burnrate_runs_ingested_total', 'outcome')).toEqual({
      accepted: 1,
      rejected: 1,
    });
  });

  it('rejects runs with control characters or unpaired surrogates in any string, naming each field', async () => {
    const nul = run({ feature: 'a\u0000b' });
    const surrogate = run({ session_id: 's\ud800', tags: { env: 'prod\u0085', 'k\u0000': 'v' } });
    const sutResult = await sut.ingest([nul, surrogate], support);

    expect(sutResult).toEqual({
      accepted: 0,
      rejected: 2,
      results: [
        {
          index: 0,
          run_id: nul.run_id,
          status: 'rejected',
          errors: [{ field: 'feature', message: 'must not contain control characters (U+0000 at index 1)' }],
        },
        {
          index: 1,
          run_id: surrogate.run_id,
          status: 'rejected',
          errors: [
            { field: 'session_id', message: 'must not contain unpaired surrogates (U+D800 at index 1)' },
            { field: 'tags.env', message: 'must not contain control characters (U+0085 at index 4)' },
            { field: 'tags.k<U+0000>', message: 'must not contain control characters (U+0000 at index 1)' },
          ],
        },
      ],
    });
    expect(kafka.decoded<RunEvent>(Topics.runsRaw)).toEqual([]);
    const rejected = kafka.decoded<RejectedRun>(Topics.runsRejected);
    expect(rejected.map((r) => r.value.run_id)).toEqual([nul.run_id, surrogate.run_id]);
    expect(JSON.parse(rejected[0].value.original.toString())).toEqual(nul);
    expect(await counted(metrics, 'burnrate_runs_rejected_total', 'reason')).toEqual({
      feature: 1,
      session_id: 1,
      tags: 2,
    });
  });

  it('starts every outcome, refusal and rejection reason at 0, so that the first of each after a start is an increase', async () => {
    expect(await series(metrics, 'burnrate_runs_ingested_total', 'outcome')).toEqual({
      accepted: 0,
      rejected: 0,
      unavailable: 0,
    });
    expect(await series(metrics, 'burnrate_ingest_requests_refused_total', 'code')).toEqual({
      invalid_body: 0,
      empty_batch: 0,
      batch_too_large: 0,
      forbidden: 0,
      unavailable: 0,
    });
    const reasons = Object.keys(await series(metrics, 'burnrate_runs_rejected_total', 'reason'));
    const bad = [
      42,
      run({ run_id: 7, agent_id: '', model: null, provider: 1, team: 'x'.repeat(999) }),
      run({ input_tokens: -1, output_tokens: 'x', cache_read_tokens: 1.5, cache_write_1h_tokens: 3 }),
      run({ started_at: 'yesterday', finished_at: '2999-01-01T00:00:00Z', status: 'ok', quality_score: 2 }),
      run({
        customer_id: 1,
        feature: 1,
        cost_centre: 1,
        session_id: 1,
        tool: 1,
        parent_run_id: 1,
        source: 1,
      }),
      run({ tags: { 'k\u0000': 'v', env: 1 } }),
    ];
    for (const item of bad) await sut.ingest([item], admin);

    const after = await series(metrics, 'burnrate_runs_rejected_total', 'reason');
    expect(Object.keys(after)).toEqual(reasons);
    expect(
      Object.keys(await counted(metrics, 'burnrate_runs_rejected_total', 'reason')).length,
    ).toBeGreaterThan(15);
    await refusal(sut.ingest([run({ team: 'billing' })], support));
    expect(await counted(metrics, 'burnrate_ingest_requests_refused_total', 'code')).toEqual({
      forbidden: 1,
    });
  });

  it('refuses the whole request (403) when any run, valid or not, names another team, and publishes nothing', async () => {
    const other = run({ team: 'billing', input_tokens: 'x' });
    const sutResult = await refusal(sut.ingest([run(), other], support));

    expect(sutResult.status).toBe(403);
    expect(sutResult.body).toMatchObject({
      error: { code: 'forbidden', details: { runs: [{ index: 1, run_id: other.run_id, team: 'billing' }] } },
    });
    expect(kafka.sent).toEqual([]);
  });

  it('lets an admin key write any team, and keys a run without a team by its agent alone', async () => {
    await sut.ingest([run({ team: 'billing' }), run()], admin);

    const raw = kafka.decoded<RunEvent>(Topics.runsRaw);
    expect(raw.map((r) => [r.key, r.value.team])).toEqual([
      ['billing/support-triage', 'billing'],
      ['support-triage', null],
    ]);
  });

  it.each([
    ['a string', 400, 'invalid_body', '"run"'],
    ['null', 400, 'invalid_body', null],
    ['an empty batch', 400, 'empty_batch', []],
    ['more runs than MAX_BATCH_RUNS', 413, 'batch_too_large', Array.from({ length: 6 }, () => run())],
  ])('refuses %s with %i %s', async (_what, status, code, body) => {
    const sutResult = await refusal(sut.ingest(body, support));
    expect(sutResult).toMatchObject({ status, body: { error: { code } } });
    expect(kafka.sent).toEqual([]);
  });

  it('answers 503 with Retry-After when Kafka fails the produce', async () => {
    kafka.next = () => Promise.reject(new Error('broker down'));
    const sutResult = await refusal(sut.ingest(run(), support));

    expect(sutResult).toMatchObject({
      status: 503,
      body: { error: { code: 'unavailable' } },
      headers: { 'Retry-After': '7' },
    });
    expect(await counted(metrics, 'burnrate_runs_ingested_total', 'outcome')).toEqual({
      unavailable: 1,
    });
  });

  it('answers 503 when Kafka does not acknowledge in time, and sheds load while those runs are still pending', async () => {
    let acknowledge = (): void => undefined;
    kafka.next = () => new Promise<void>((resolve) => (acknowledge = resolve));
    expect(
      (
        await refusal(
          sut.ingest(
            Array.from({ length: 5 }, () => run()),
            support,
          ),
        )
      ).status,
    ).toBe(503);

    kafka.next = () => Promise.resolve();
    const shed = await refusal(
      sut.ingest(
        Array.from({ length: 5 }, () => run()),
        support,
      ),
    );
    expect(shed).toMatchObject({ status: 503, headers: { 'Retry-After': '7' } });
    expect(kafka.sent).toHaveLength(1);

    acknowledge();
    await new Promise((r) => setImmediate(r));
    expect((await sut.ingest(run(), support)).accepted).toBe(1);
  });
});
