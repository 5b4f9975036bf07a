import Anthropic from '@anthropic-ai/sdk';
import { createBurnrate, type Burnrate } from './client';
import { fakeAnthropic } from './spec-support/providers';
import { ingestionStandIn, type LocalServer } from './spec-support/servers';

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

describe('wrapAnthropic', () => {
  let provider: LocalServer;
  let ingestion: Awaited<ReturnType<typeof ingestionStandIn>>;
  let sut: Burnrate;
  let anthropic: Anthropic;

  beforeEach(async () => {
    provider = await fakeAnthropic();
    ingestion = await ingestionStandIn();
    sut = createBurnrate({
      apiKey: 'br_test_key',
      ingestUrl: ingestion.url,
      guard: false,
      onError: () => undefined,
    });
    anthropic = sut.wrapAnthropic(
      new Anthropic({ apiKey: 'sk-ant-test', baseURL: provider.url, maxRetries: 0 }),
    );
  });

  afterEach(async () => {
    await sut.shutdown();
    await provider.close();
    await ingestion.close();
  });

  const request = { max_tokens: 1024, messages: [{ role: 'user' as const, content: 'hi' }] };
  const completion = (over: Record<string, unknown> = {}) => ({
    run_id: expect.any(String),
    agent_id: 'research-agent',
    model: 'claude-sonnet-4-5-20250929',
    provider: 'anthropic',
    started_at: ISO,
    finished_at: ISO,
    status: 'success',
    customer_id: 'cus_8821',
    feature: 'lead-enrichment',
    cost_centre: 'cc-42',
    session_id: 'sess-7',
    tool: null,
    parent_run_id: expect.any(String),
    tags: { env: 'prod' },
    source: 'sdk',
    ...over,
  });
  const scope = {
    agent_id: 'research-agent',
    customer_id: 'cus_8821',
    feature: 'lead-enrichment',
    cost_centre: 'cc-42',
    session_id: 'sess-7',
    tags: { env: 'prod' },
  };

  it('records input_tokens without the cache, cache reads, cache writes and their 1-hour part, as reported', async () => {
    const message = await sut.run(scope, () =>
      anthropic.messages.create({ model: 'claude-sonnet-4-5', ...request }),
    );
    expect(message.content[0]).toEqual({ type: 'text', text: 'Hello!' });
    await sut.flush();
    expect(ingestion.runs[0]).toEqual(
      completion({
        input_tokens: 2400,
        output_tokens: 610,
        cache_read_tokens: 12000,
        cache_write_tokens: 3000,
        cache_write_1h_tokens: 2000,
      }),
    );
    expect(ingestion.runs[0].parent_run_id).toBe(ingestion.runs[1].run_id);
  });

  const streamed = completion({
    input_tokens: 25,
    output_tokens: 15,
    cache_read_tokens: 4000,
    cache_write_tokens: 0,
    cache_write_1h_tokens: 0,
  });

  it('reads a stream: input and cache counts from message_start, output from message_delta', async () => {
    const types: string[] = [];
    await sut.run(scope, async () => {
      const stream = await anthropic.messages.create({
        model: 'claude-sonnet-4-5',
        ...request,
        stream: true,
      });
      for await (const event of stream) types.push(event.type);
    });
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    await sut.flush();
    expect(ingestion.runs[0]).toEqual(streamed);
  });

  it('records messages.stream() through the same create, once', async () => {
    const text = await sut.run(scope, async () => {
      const stream = anthropic.messages.stream({ model: 'claude-sonnet-4-5', ...request });
      const final = await stream.finalMessage();
      return final.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    });
    expect(text).toBe('Hello!');
    await sut.flush();
    expect(ingestion.runs).toHaveLength(2);
    expect(ingestion.runs[0]).toEqual(streamed);
  });

  it('records a stream the caller stops reading as cancelled, with what it had seen', async () => {
    await sut.run(scope, async () => {
      const stream = await anthropic.messages.create({
        model: 'claude-sonnet-4-5',
        ...request,
        stream: true,
      });
      for await (const event of stream) if (event.type === 'content_block_start') break;
    });
    await sut.flush();
    expect(ingestion.runs[0]).toEqual({ ...streamed, status: 'cancelled', output_tokens: 1 });
  });

  it('records an API error as an error run with no tokens, and rethrows it', async () => {
    await expect(
      sut.run(scope, () => anthropic.messages.create({ model: 'missing', ...request })),
    ).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    await sut.flush();
    expect(ingestion.runs[0]).toEqual(
      completion({
        model: 'missing',
        status: 'error',
        input_tokens: 0,
        output_tokens: 0,
        cache_read_tokens: null,
        cache_write_tokens: null,
        cache_write_1h_tokens: null,
      }),
    );
  });
});
