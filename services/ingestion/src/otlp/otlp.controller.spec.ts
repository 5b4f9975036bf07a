// @fastify/static (the /docs UI) requires content-disposition, which is ES modules only and jest loads CommonJS
jest.mock('content-disposition', () => ({ create: () => 'attachment' }));

import { deflateSync, gzipSync } from 'node:zlib';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { API_KEYS, type Principal } from '@libs/auth';
import { parseConfig } from '@libs/config';
import { Topics } from '@libs/contracts';
import { KafkaService, type OutboundRecord } from '@libs/kafka';
import { createServiceApp } from '@libs/observability';
import { ingestionSpec } from '../ingestion.config';
import { ingestionApp } from '../ingestion.module';
import type { OtelSpanBatch } from './genai-span';
import { OtlpMessages } from './otlp-proto';
import { OtlpController } from './otlp.controller';

const KEYS: Record<string, Principal> = {
  support: { keyId: 'k-support', team: 'support', role: 'team' },
};
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER_TRACE = '5bf92f3577b34da6a3ce929d0e0e4737';
const END = Date.now() - 60_000;
const nanos = (ms: number) => String(BigInt(ms) * 1_000_000n);

function span(traceId: string, spanId: string, attributes: Record<string, string | number>, parent?: string) {
  return {
    traceId,
    spanId,
    ...(parent && { parentSpanId: parent }),
    name: 'span',
    startTimeUnixNano: nanos(END - 1000),
    endTimeUnixNano: nanos(END),
    attributes: Object.entries(attributes).map(([key, v]) => ({
      key,
      value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
    })),
  };
}

const request = (...spans: ReturnType<typeof span>[]) => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bot' } }] },
      scopeSpans: [{ spans }],
    },
  ],
});

/** The JSON request as protobuf: ids from hex to bytes, then the descriptor's own encoder. */
function protobuf(body: ReturnType<typeof request>): Buffer {
  const bytes = (hex?: string) => (hex ? Buffer.from(hex, 'hex') : undefined);
  const message = {
    resourceSpans: body.resourceSpans.map((rs) => ({
      ...rs,
      scopeSpans: rs.scopeSpans.map((ss) => ({
        spans: ss.spans.map((s) => ({
          ...s,
          traceId: bytes(s.traceId),
          spanId: bytes(s.spanId),
          parentSpanId: bytes(s.parentSpanId),
        })),
      })),
    })),
  };
  return Buffer.from(OtlpMessages.request.encode(OtlpMessages.request.fromObject(message)).finish());
}

const model = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.request.model': 'gpt-4o',
  'gen_ai.usage.input_tokens': 5,
};

describe(OtlpController.name, () => {
  let app: NestFastifyApplication;
  let sent: OutboundRecord[];
  let send: (records: OutboundRecord[]) => Promise<void>;
  let doc: { paths: Record<string, Record<string, { responses: Record<string, object> }>> };

  let address = 0;
  function post(body: string | Buffer, headers: Record<string, string>, key: string | null = 'support') {
    address++;
    return app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/v1/traces',
        headers: {
          'x-forwarded-for': `10.1.${address >> 8}.${address & 255}`,
          ...(key && { authorization: `Bearer ${key}` }),
          ...headers,
        },
        payload: body,
      });
  }
  const json = (body: unknown, headers: Record<string, string> = {}) =>
    post(JSON.stringify(body), { 'content-type': 'application/json', ...headers });
  const batches = () =>
    sent.map((r) => ({ key: r.key, value: JSON.parse(r.value!.toString()) as OtelSpanBatch }));

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'fatal';
    jest.spyOn(KafkaService.prototype, 'onModuleInit').mockResolvedValue();
    jest.spyOn(KafkaService.prototype, 'beforeApplicationShutdown').mockResolvedValue();
    const config = parseConfig(ingestionSpec, {
      MAX_BODY_BYTES: '4096',
      PRODUCE_TIMEOUT_MS: '100',
      RETRY_AFTER_S: '7',
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
    sent = [];
    send = async (records) => void sent.push(...records);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('publishes a record per trace, keyed <team>/<trace_id>, and answers an empty ExportTraceServiceResponse', async () => {
    const res = await json(
      request(
        span(TRACE, '00f067aa0ba902b7', model, '53995c3f42cd8ad8'),
        span(TRACE, '53995c3f42cd8ad8', { 'http.request.method': 'GET' }),
        span(OTHER_TRACE, '10f067aa0ba902b7', {
          'gen_ai.operation.name': 'invoke_agent',
          'gen_ai.agent.name': 'a',
        }),
      ),
    );

    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({});
    expect(batches()).toEqual([
      {
        key: `support/${TRACE}`,
        value: expect.objectContaining({
          team: 'support',
          trace_id: TRACE,
          spans: [
            expect.objectContaining({
              span_id: '00f067aa0ba902b7',
              kind: 'model',
              model: 'gpt-4o',
              input_tokens: 5,
            }),
            expect.objectContaining({ span_id: '53995c3f42cd8ad8', kind: 'other', service_name: 'bot' }),
          ],
        }) as unknown,
      },
      {
        key: `support/${OTHER_TRACE}`,
        value: expect.objectContaining({
          spans: [expect.objectContaining({ kind: 'agent', agent_name: 'a' })],
        }) as unknown,
      },
    ]);
    expect(sent.every((r) => r.topic === Topics.otelSpans.name)).toBe(true);
  });

  it('takes protobuf, plain, gzip or deflate, and answers in protobuf with partialSuccess for refused spans', async () => {
    const body = protobuf(
      request(
        span(TRACE, '00f067aa0ba902b7', model),
        span(TRACE, '20f067aa0ba902b7', { 'gen_ai.operation.name': 'chat' }),
      ),
    );
    for (const [payload, headers] of [
      [body, {}],
      [gzipSync(body), { 'content-encoding': 'gzip' }],
      [deflateSync(body), { 'content-encoding': 'deflate' }],
    ] as const) {
      sent = [];
      const res = await post(payload, { 'content-type': 'application/x-protobuf', ...headers });

      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-protobuf');
      const answer = OtlpMessages.response.toObject(OtlpMessages.response.decode(res.rawPayload), {
        longs: Number,
      });
      expect(answer).toEqual({
        partialSuccess: {
          rejectedSpans: 1,
          errorMessage: 'span 20f067aa0ba902b7: no gen_ai.response.model or gen_ai.request.model',
        },
      });
      // the refused span is still published, for the ancestry of the spans below it, as neither model nor agent
      expect(batches()[0].value.spans.map((s) => [s.span_id, s.kind])).toEqual([
        ['00f067aa0ba902b7', 'model'],
        ['20f067aa0ba902b7', 'other'],
      ]);
    }
  });

  it('answers 400 for a body that is not an ExportTraceServiceRequest, and publishes nothing', async () => {
    expect(
      (await post(Buffer.from([0x0a, 0xff]), { 'content-type': 'application/x-protobuf' })).statusCode,
    ).toBe(400);
    expect((await json([])).json()).toMatchObject({ error: { code: 'invalid_body' } });
    expect((await post('{nope', { 'content-type': 'application/json' })).statusCode).toBe(400);
    expect(sent).toEqual([]);
  });

  it('answers 413 for a body over MAX_BODY_BYTES, inflated or not', async () => {
    const big = JSON.stringify(request(span(TRACE, '00f067aa0ba902b7', { ...model, pad: 'x'.repeat(8000) })));
    expect((await post(big, { 'content-type': 'application/json' })).statusCode).toBe(413);
    const zipped = gzipSync(big);
    expect(zipped.length).toBeLessThan(4096);
    expect(
      (await post(zipped, { 'content-type': 'application/json', 'content-encoding': 'gzip' })).statusCode,
    ).toBe(413);
    expect(sent).toEqual([]);
  });

  it('answers 415 for another content type or encoding, and 401 without a key', async () => {
    expect((await post('x', { 'content-type': 'text/plain' })).statusCode).toBe(415);
    expect((await json({}, { 'content-encoding': 'br' })).statusCode).toBe(415);
    expect((await post('{}', { 'content-type': 'application/json' }, null)).statusCode).toBe(401);
    expect((await post('{}', { 'content-type': 'application/json' }, 'nope')).statusCode).toBe(401);
  });

  it('answers 503 with Retry-After when Kafka does not acknowledge', async () => {
    send = () => Promise.reject(new Error('broker down'));
    const res = await json(request(span(TRACE, '00f067aa0ba902b7', model)));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toMatchObject({ error: { code: 'unavailable' } });
  });

  it('documents the route and every status it answers', () => {
    const operation = doc.paths['/v1/traces'].post;
    expect(Object.keys(operation.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '413',
      '415',
      '429',
      '503',
    ]);
    expect(operation).toMatchObject({
      requestBody: { content: { 'application/x-protobuf': {}, 'application/json': {} } },
      responses: { 429: { headers: { 'Retry-After': { required: true } } } },
    });
  });
});
