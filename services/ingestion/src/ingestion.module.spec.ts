// @fastify/static (the /docs UI) requires content-disposition, which is ES modules only and jest loads CommonJS
jest.mock('content-disposition', () => ({ create: () => 'attachment' }));

import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { API_KEYS, type Principal } from '@libs/auth';
import { parseConfig } from '@libs/config';
import { KafkaService, type OutboundRecord } from '@libs/kafka';
import { createServiceApp } from '@libs/observability';
import { ingestionSpec } from './ingestion.config';
import { ingestionApp } from './ingestion.module';

const KEYS: Record<string, Principal> = {
  support: { keyId: 'k-support', team: 'support', role: 'team' },
};
const finished = Date.now() - 60_000;
const run = (overrides: Record<string, unknown> = {}) => ({
  run_id: `run-${Math.random().toString(36).slice(2)}`,
  agent_id: 'support-triage',
  model: 'gpt-4o',
  input_tokens: 2480,
  output_tokens: 514,
  started_at: new Date(finished - 3000).toISOString(),
  finished_at: new Date(finished).toISOString(),
  status: 'success',
  ...overrides,
});

describe(ingestionApp.name, () => {
  let app: NestFastifyApplication;
  let doc: {
    paths: Record<string, Record<string, { requestBody: object; responses: Record<string, object> }>>;
    components: { schemas: Record<string, object> };
  };
  let send: (records: OutboundRecord[]) => Promise<void>;

  let address = 0;
  function post(body: unknown, key: string | null = 'support', headers: Record<string, string> = {}) {
    address++;
    return app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/v1/runs',
        headers: {
          'x-forwarded-for': `10.0.${address >> 8}.${address & 255}`,
          'content-type': 'application/json',
          ...(key && { authorization: `Bearer ${key}` }),
          ...headers,
        },
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      });
  }
  const documented = (status: number) =>
    Object.keys(doc.paths['/v1/runs'].post.responses).includes(String(status));

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'fatal';
    // Kafka replaced: no connection at start or stop; records are encoded as JSON and handed to `send`
    jest.spyOn(KafkaService.prototype, 'onModuleInit').mockResolvedValue();
    jest.spyOn(KafkaService.prototype, 'beforeApplicationShutdown').mockResolvedValue();
    const config = parseConfig(ingestionSpec, {
      MAX_BATCH_RUNS: '3',
      MAX_BODY_BYTES: '4096',
      PRODUCE_TIMEOUT_MS: '100',
      RETRY_AFTER_S: '7',
      RATE_LIMIT_UNAUTHENTICATED_PER_S: '1',
      RATE_LIMIT_UNAUTHENTICATED_BURST: '2',
    });
    app = await createServiceApp(ingestionApp(config));
    const kafka = app.get(KafkaService);
    Object.defineProperty(kafka, 'serde', {
      value: { encode: (_topic: unknown, value: unknown) => Buffer.from(JSON.stringify(value)) },
    });
    Object.assign(kafka.producer, { send: (records: OutboundRecord[]) => send(records) });
    Object.assign(app.get(API_KEYS), { verify: async (key: string) => KEYS[key] ?? null });
    await app.init();
    doc = (await app.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/openapi.json' })).json();
  });

  beforeEach(() => {
    send = async () => undefined;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('documents every status POST /v1/runs answers, and a batch of 1 to MAX_BATCH_RUNS runs', () => {
    const operation = doc.paths['/v1/runs'].post;

    expect(Object.keys(operation.responses)).toEqual([
      '202',
      '400',
      '401',
      '403',
      '413',
      '415',
      '429',
      '503',
    ]);
    expect(operation.responses['400']).toMatchObject({
      content: {
        'application/json': {
          schema: {
            oneOf: [
              { required: ['accepted', 'rejected', 'results'] },
              { $ref: '#/components/schemas/ApiError' },
            ],
          },
        },
      },
    });
    expect(operation.responses['429']).toMatchObject({ headers: { 'Retry-After': { required: true } } });
    expect(operation.requestBody).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/RunsBody' } } },
    });
    expect(doc.components.schemas.RunBatch).toEqual({
      type: 'array',
      minItems: 1,
      maxItems: 3,
      items: { $ref: '#/components/schemas/Run' },
    });
    expect(doc.components.schemas.RunsBody).toMatchObject({
      oneOf: [{ $ref: '#/components/schemas/Run' }, { $ref: '#/components/schemas/RunBatch' }],
    });
    expect(doc.components.schemas.ApiError).toMatchObject({ required: ['error'] });
  });

  it.each([
    ['a run', run(), 202, null],
    ['a batch of MAX_BATCH_RUNS runs', [run(), run(), run()], 202, null],
    ['an empty batch', [], 400, 'empty_batch'],
    ['a batch over MAX_BATCH_RUNS', [run(), run(), run(), run()], 413, 'batch_too_large'],
    ['neither a run nor a batch', '"run"', 400, 'invalid_body'],
    ['a body that is not JSON', '{nope', 400, 'bad_request'],
    ['a body over MAX_BODY_BYTES', [run({ feature: 'x'.repeat(4096) })], 413, 'payload_too_large'],
    ['a run of another team', [run(), run({ team: 'billing' })], 403, 'forbidden'],
  ])('answers %s with %i, as documented', async (_what, body, status, code) => {
    const sutResult = await post(body);

    expect(sutResult.statusCode).toBe(status);
    if (code) expect(sutResult.json().error.code).toBe(code);
    expect(documented(status)).toBe(true);
  });

  it('answers runs that are all invalid 400 with the per-run results', async () => {
    const sutResult = await post([run({ input_tokens: -1 })]);

    expect(sutResult.statusCode).toBe(400);
    expect(sutResult.json()).toMatchObject({
      accepted: 0,
      rejected: 1,
      results: [{ index: 0, status: 'rejected' }],
    });
  });

  it('answers 401 without a key, 415 to a body that is not JSON, and 429 with Retry-After to an address guessing keys', async () => {
    expect((await post(run(), null)).statusCode).toBe(401);
    expect((await post(run(), 'unknown')).statusCode).toBe(401);
    const text = await post(JSON.stringify(run()), 'support', { 'content-type': 'text/plain' });
    expect([text.statusCode, text.json().error.code]).toEqual([415, 'unsupported_media_type']);

    const guessing = { 'x-forwarded-for': '192.0.2.9' };
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await post(run(), 'unknown', guessing));
    expect(statuses.map((r) => r.statusCode)).toEqual([401, 401, 429]);
    expect(statuses[2].headers['retry-after']).toBeDefined();
    for (const status of [401, 415, 429]) expect(documented(status)).toBe(true);
  });

  it('answers 503 with Retry-After when Kafka does not acknowledge', async () => {
    send = () => Promise.reject(new Error('broker down'));

    const sutResult = await post(run());

    expect([sutResult.statusCode, sutResult.headers['retry-after']]).toEqual([503, '7']);
    expect(sutResult.json().error.code).toBe('unavailable');
    expect(documented(503)).toBe(true);
  });

  it('answers 405 with Allow to a method /v1/runs does not take, and 404 to an unknown path', async () => {
    const fastify = app.getHttpAdapter().getInstance();
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH'] as const) {
      const sutResult = await fastify.inject({ method, url: '/v1/runs' });
      expect([method, sutResult.statusCode, sutResult.headers.allow]).toEqual([method, 405, 'OPTIONS, POST']);
      expect(sutResult.json().error.code).toBe('method_not_allowed');
    }
    expect((await fastify.inject({ method: 'POST', url: '/v1/run' })).statusCode).toBe(404);
  });
});
