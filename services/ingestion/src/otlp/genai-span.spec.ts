import { providerName, readSpan, type OtelSpan } from './genai-span';
import type { AttributeValue, OtlpSpan } from './otlp-decode';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const START = Date.UTC(2026, 5, 9, 9, 14, 2);

function span(
  attributes: Record<string, AttributeValue>,
  resource: Record<string, AttributeValue> = { 'service.name': 'support-bot' },
  overrides: Partial<OtlpSpan> = {},
): OtlpSpan {
  return {
    traceId: TRACE,
    spanId: '00f067aa0ba902b7',
    parentSpanId: '53995c3f42cd8ad8',
    name: 'span',
    startMs: START,
    endMs: START + 3000,
    error: false,
    attributes: new Map(Object.entries(attributes)),
    resource: new Map(Object.entries(resource)),
    ...overrides,
  };
}

function read(
  attributes: Record<string, AttributeValue>,
  resource?: Record<string, AttributeValue>,
  overrides?: Partial<OtlpSpan>,
): OtelSpan {
  const reading = readSpan(span(attributes, resource, overrides));
  if (!reading.ok) throw new Error(`refused: ${reading.reason}`);
  return reading.span;
}

const chat = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o' };

describe(readSpan.name, () => {
  it('reads a model call with the current conventions’ names', () => {
    const sut = read(
      {
        ...chat,
        'gen_ai.provider.name': 'openai',
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
        'gen_ai.usage.input_tokens': 1200,
        'gen_ai.usage.output_tokens': 300,
        'gen_ai.usage.cache_read.input_tokens': 1000,
        'gen_ai.usage.cache_creation.input_tokens': 50,
        'gen_ai.conversation.id': 'conv-1',
        'gen_ai.agent.name': 'planner',
        'burnrate.customer_id': 'acme',
        'burnrate.feature': 'inbox',
        'burnrate.cost_centre': 'cc-7',
      },
      {
        'service.name': 'support-bot',
        'burnrate.customer_id': 'res-cust',
        'burnrate.feature': 'res-feat',
        'burnrate.cost_centre': 'res-cc',
      },
      { error: true },
    );

    expect(sut).toEqual({
      span_id: '00f067aa0ba902b7',
      parent_span_id: '53995c3f42cd8ad8',
      kind: 'model',
      start_time: START,
      end_time: START + 3000,
      error: true,
      service_name: 'support-bot',
      agent_name: 'planner',
      tool_name: null,
      model: 'gpt-4o-2024-08-06',
      provider: 'openai',
      input_tokens: 1200,
      output_tokens: 300,
      cache_read_tokens: 1000,
      cache_write_tokens: 50,
      conversation_id: 'conv-1',
      customer_id: 'acme',
      feature: 'inbox',
      cost_centre: 'cc-7',
      resource_customer_id: 'res-cust',
      resource_feature: 'res-feat',
      resource_cost_centre: 'res-cc',
    });
  });

  it('reads the older names: prompt/completion tokens, cache_*_input_tokens, gen_ai.system', () => {
    const sut = read({
      ...chat,
      'gen_ai.system': 'openai',
      'gen_ai.usage.prompt_tokens': 640,
      'gen_ai.usage.completion_tokens': 64,
      'gen_ai.usage.cache_read_input_tokens': 600,
      'gen_ai.usage.cache_creation_input_tokens': 8,
    });

    expect(sut).toMatchObject({
      kind: 'model',
      model: 'gpt-4o',
      provider: 'openai',
      input_tokens: 640,
      output_tokens: 64,
      cache_read_tokens: 600,
      cache_write_tokens: 8,
    });
  });

  it('prefers the current names when a span carries both', () => {
    const sut = read({
      ...chat,
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.system': 'openai',
      'gen_ai.usage.input_tokens': 10,
      'gen_ai.usage.prompt_tokens': 99,
      'gen_ai.usage.output_tokens': 1,
      'gen_ai.usage.completion_tokens': 99,
    });
    expect(sut).toMatchObject({ provider: 'anthropic', input_tokens: 10, output_tokens: 1 });
  });

  it('takes the request model when there is no response model', () => {
    expect(read(chat).model).toBe('gpt-4o');
  });

  it.each([
    ['gcp.gemini', 'google'],
    ['gcp.vertex_ai', 'google'],
    ['gcp.gen_ai', 'google'],
    ['aws.bedrock', 'bedrock'],
    ['azure.ai.openai', 'azure'],
    ['azure.ai.inference', 'azure'],
    ['mistral_ai', 'mistral'],
    ['x_ai', 'x-ai'],
    ['OpenAI', 'openai'],
    ['anthropic', 'anthropic'],
    ['deepseek', 'deepseek'],
    ['', null],
  ])('names provider %s as %s', (otel, ours) => {
    expect(providerName(otel)).toBe(ours);
  });

  it.each([
    ['chat', 'model'],
    ['text_completion', 'model'],
    ['generate_content', 'model'],
    ['invoke_agent', 'agent'],
    ['create_agent', 'agent'],
    ['execute_tool', 'tool'],
    ['embeddings', 'other'],
  ])('makes gen_ai.operation.name %s a %s span', (operation, kind) => {
    expect(read({ 'gen_ai.operation.name': operation, 'gen_ai.request.model': 'm' }).kind).toBe(kind);
  });

  it('makes any span with usage tokens a model call, whatever its operation', () => {
    expect(read({ 'gen_ai.request.model': 'm', 'gen_ai.usage.output_tokens': 3 }).kind).toBe('model');
    expect(
      read({
        'gen_ai.operation.name': 'embeddings',
        'gen_ai.request.model': 'm',
        'gen_ai.usage.input_tokens': 3,
      }).kind,
    ).toBe('model');
  });

  it('makes a span with gen_ai.agent.name and no usage an agent span, and ignores an invoke_agent span’s own usage', () => {
    expect(read({ 'gen_ai.agent.name': 'planner' })).toMatchObject({ kind: 'agent', agent_name: 'planner' });
    expect(
      read({
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.usage.input_tokens': 500,
        'gen_ai.agent.name': 'a',
      }),
    ).toMatchObject({ kind: 'agent', input_tokens: null });
  });

  it('keeps a span that is not GenAI as other, with its attribution for the spans below it', () => {
    expect(read({ 'http.request.method': 'POST', 'burnrate.customer_id': 'acme' })).toMatchObject({
      kind: 'other',
      customer_id: 'acme',
      model: null,
    });
  });

  it('takes a Claude model’s cache tokens out of its input tokens, which the conventions count them inside', () => {
    const claude = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'claude-sonnet-4-5-20250929',
      'gen_ai.usage.input_tokens': 900,
      'gen_ai.usage.output_tokens': 80,
      'gen_ai.usage.cache_read.input_tokens': 500,
      'gen_ai.usage.cache_creation.input_tokens': 100,
    };
    expect(read({ ...claude, 'gen_ai.provider.name': 'anthropic' }).input_tokens).toBe(300);
    // Claude on Bedrock is counted as Anthropic counts
    expect(read({ ...claude, 'gen_ai.provider.name': 'aws.bedrock' }).input_tokens).toBe(300);
    // an instrumentation that passed Anthropic's own input_tokens through has them out already
    expect(read({ ...claude, 'gen_ai.usage.input_tokens': 40 }).input_tokens).toBe(40);
    // OpenAI's count keeps them, as the run contract does
    expect(
      read({ ...chat, 'gen_ai.usage.input_tokens': 900, 'gen_ai.usage.cache_read.input_tokens': 500 })
        .input_tokens,
    ).toBe(900);
  });

  it('counts missing token attributes of a model call as 0', () => {
    expect(read({ ...chat, 'gen_ai.usage.output_tokens': 5 })).toMatchObject({
      input_tokens: 0,
      output_tokens: 5,
    });
  });

  it('takes integer token counts given as strings', () => {
    expect(read({ ...chat, 'gen_ai.usage.input_tokens': '42' }).input_tokens).toBe(42);
  });

  it.each([
    [
      'no model',
      { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 1 },
      /no gen_ai.response.model/,
    ],
    [
      'negative tokens',
      { ...chat, 'gen_ai.usage.output_tokens': -3 },
      /gen_ai.usage.output_tokens must be a non-negative integer/,
    ],
    ['fractional tokens', { ...chat, 'gen_ai.usage.input_tokens': 1.5 }, /gen_ai.usage.input_tokens must/],
    [
      'text tokens',
      { ...chat, 'gen_ai.usage.cache_read.input_tokens': 'many' },
      /gen_ai.usage.cache_read.input_tokens must/,
    ],
    [
      'boolean tokens',
      { ...chat, 'gen_ai.usage.cache_creation.input_tokens': true },
      /gen_ai.usage.cache_creation.input_tokens must/,
    ],
  ])('refuses a model call with %s, keeping its ids for the spans below it', (_what, attributes, reason) => {
    const sut = readSpan(span(attributes));
    expect(sut).toMatchObject({ ok: false, reason: expect.stringMatching(reason) as string });
    expect(!sut.ok && sut.span).toMatchObject({
      span_id: '00f067aa0ba902b7',
      parent_span_id: '53995c3f42cd8ad8',
    });
  });

  it.each([
    ['a short trace id', { traceId: 'abc' }, 'invalid trace id'],
    ['an all-zero trace id', { traceId: '0'.repeat(32) }, 'invalid trace id'],
    ['a span id that is not hex', { spanId: 'zz'.repeat(8) }, 'invalid span id'],
  ])('refuses a span with %s outright', (_what, overrides, reason) => {
    expect(readSpan(span(chat, undefined, overrides))).toEqual({ ok: false, reason, span: null });
  });

  it('refuses at arrival a string the run contract would refuse after the hold, naming it, and keeps the span without it', () => {
    const bad = readSpan(
      span({ ...chat, 'gen_ai.request.model': 'gpt-4o\u0000', 'burnrate.customer_id': 'ac\u0007me' }),
    );
    expect(bad).toMatchObject({
      ok: false,
      reason: 'burnrate.customer_id must not contain control characters or unpaired surrogates',
    });
    // an HTTP span between an agent and its model calls: its bad attribution is dropped, the chain through it kept
    const http = readSpan(span({ 'burnrate.feature': 'x'.repeat(257) }, { 'service.name': ' padded ' }));
    expect(http.ok).toBe(false);
    expect(!http.ok && http.reason).toBe(
      'service.name must not start or end with white space; burnrate.feature must be at most 256 characters',
    );
    expect(!http.ok && http.span).toMatchObject({ kind: 'other', feature: null, service_name: null });
    const model = readSpan(
      span({ ...chat, 'gen_ai.request.model': `gpt-4o\u0000`, 'gen_ai.provider.name': 'p'.repeat(65) }),
    );
    expect(!model.ok && model.reason).toBe(
      'the model must not contain control characters or unpaired surrogates; the provider must be at most 64 characters',
    );
    expect(read({ ...chat, 'gen_ai.agent.name': '🚀'.repeat(128) }).agent_name).toBe('🚀'.repeat(128));
    expect(readSpan(span({ ...chat, 'gen_ai.agent.name': '🚀'.repeat(129) })).ok).toBe(false);
  });

  it('drops a parent span id that is not one, making the span a root', () => {
    expect(read(chat, undefined, { parentSpanId: 'nope' }).parent_span_id).toBeNull();
  });
});
