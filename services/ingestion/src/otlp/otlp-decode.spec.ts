import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { OtlpDecodeError, decodeJson, decodeProtobuf, encodeResponse, type OtlpSpan } from './otlp-decode';
import { OtlpMessages } from './otlp-proto';

/** Spans made by OpenTelemetry's own SDK, serialized by its own OTLP serializers (what its exporters send). */
function sdkSpans(): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'support-bot', 'burnrate.customer_id': 'acme' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('spec');
  const start = Date.UTC(2026, 5, 9, 9, 14, 2, 250);
  const agent = tracer.startSpan('invoke_agent', {
    startTime: start,
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'planner' },
  });
  const chat = tracer.startSpan(
    'chat',
    {
      startTime: start + 100,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.usage.input_tokens': 1200,
        'gen_ai.usage.output_tokens': 300,
        'gen_ai.request.temperature': 0.2,
        'gen_ai.request.stream': true,
        'gen_ai.response.finish_reasons': ['stop'],
      },
    },
    trace.setSpan(context.active(), agent),
  );
  chat.setStatus({ code: SpanStatusCode.ERROR, message: 'rate limited' });
  chat.end(start + 2100);
  agent.end(start + 3000);
  return exporter.getFinishedSpans();
}

describe('OTLP decoding', () => {
  const spans = sdkSpans();
  const [chat, agent] = spans;
  const expected: OtlpSpan[] = [
    {
      traceId: chat.spanContext().traceId,
      spanId: chat.spanContext().spanId,
      parentSpanId: agent.spanContext().spanId,
      name: 'chat',
      startMs: Date.UTC(2026, 5, 9, 9, 14, 2, 350),
      endMs: Date.UTC(2026, 5, 9, 9, 14, 4, 350),
      error: true,
      attributes: new Map<string, string | number | boolean>([
        ['gen_ai.operation.name', 'chat'],
        ['gen_ai.usage.input_tokens', 1200],
        ['gen_ai.usage.output_tokens', 300],
        ['gen_ai.request.temperature', 0.2],
        ['gen_ai.request.stream', true],
      ]),
      resource: expect.any(Map) as Map<string, string>,
    },
    {
      traceId: agent.spanContext().traceId,
      spanId: agent.spanContext().spanId,
      parentSpanId: null,
      name: 'invoke_agent',
      startMs: Date.UTC(2026, 5, 9, 9, 14, 2, 250),
      endMs: Date.UTC(2026, 5, 9, 9, 14, 5, 250),
      error: false,
      attributes: new Map([
        ['gen_ai.operation.name', 'invoke_agent'],
        ['gen_ai.agent.name', 'planner'],
      ]),
      resource: expect.any(Map) as Map<string, string>,
    },
  ];

  it('reads the protobuf the SDK’s protobuf exporter sends: hex ids, times, status, scalar attributes', () => {
    const sut = decodeProtobuf(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!));

    expect(sut).toEqual(expected);
    expect(sut[0].resource.get('service.name')).toBe('support-bot');
    expect(sut[0].resource.get('burnrate.customer_id')).toBe('acme');
  });

  it('reads the JSON the SDK’s JSON exporter sends (hex ids, int64 as strings) to the same spans', () => {
    const body: unknown = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(spans)!).toString());
    const sut = decodeJson(body);

    expect(sut).toEqual(expected);
    expect(sut[1].resource.get('service.name')).toBe('support-bot');
  });

  it('takes intValue as a number and times as numbers in JSON too', () => {
    const sut = decodeJson({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: 'AB'.repeat(16),
                  spanId: 'CD'.repeat(8),
                  startTimeUnixNano: 1_780_000_000_000_000_000,
                  endTimeUnixNano: '1780000001500000000',
                  status: { code: 2 },
                  attributes: [
                    { key: 'n', value: { intValue: 7 } },
                    { key: 's', value: { intValue: '8' } },
                    { key: 'bad', value: { intValue: 'x' } },
                    { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }] } } },
                    { key: 'novalue' },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });

    expect(sut).toEqual([
      expect.objectContaining({
        traceId: 'ab'.repeat(16),
        spanId: 'cd'.repeat(8),
        parentSpanId: null,
        startMs: 1_780_000_000_000,
        endMs: 1_780_000_001_500,
        error: true,
        attributes: new Map([
          ['n', 7],
          ['s', 8],
        ]),
      }),
    ]);
  });

  it.each([
    ['garbage bytes', () => decodeProtobuf(Buffer.from([0x0a, 0xff, 0xff, 0xff]))],
    ['a JSON array', () => decodeJson([])],
    ['resourceSpans that is not a list', () => decodeJson({ resourceSpans: {} })],
    ['spans that are not objects', () => decodeJson({ resourceSpans: [{ scopeSpans: [{ spans: [1] }] }] })],
  ])('refuses %s as not an ExportTraceServiceRequest', (_what, decode) => {
    expect(decode).toThrow(OtlpDecodeError);
  });

  it('reads an empty body as a request without spans', () => {
    expect(decodeProtobuf(Buffer.alloc(0))).toEqual([]);
    expect(decodeJson({})).toEqual([]);
  });

  it('answers an ExportTraceServiceResponse, with partialSuccess only when spans were refused', () => {
    expect(encodeResponse('json', 0, '')).toEqual({});
    expect(encodeResponse('json', 2, 'why')).toEqual({
      partialSuccess: { rejectedSpans: '2', errorMessage: 'why' },
    });
    expect((encodeResponse('protobuf', 0, '') as Buffer).length).toBe(0);
    const decoded = OtlpMessages.response.toObject(
      OtlpMessages.response.decode(encodeResponse('protobuf', 3, 'no model') as Buffer),
      { longs: Number },
    );
    expect(decoded).toEqual({ partialSuccess: { rejectedSpans: 3, errorMessage: 'no model' } });
  });
});
