import OpenAI from 'openai';
import { createBurnrate, type Burnrate } from './client';
import { fakeOpenAI } from './spec-support/providers';
import { ingestionStandIn, type LocalServer } from './spec-support/servers';

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

describe('wrapOpenAI', () => {
  let provider: LocalServer;
  let ingestion: Awaited<ReturnType<typeof ingestionStandIn>>;
  let sut: Burnrate;
  let openai: OpenAI;

  beforeEach(async () => {
    provider = await fakeOpenAI();
    ingestion = await ingestionStandIn();
    sut = createBurnrate({
      apiKey: 'br_test_key',
      ingestUrl: ingestion.url,
      guard: false,
      onError: () => undefined,
    });
    openai = sut.wrapOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: provider.url, maxRetries: 0 }));
  });

  afterEach(async () => {
    await sut.shutdown();
    await provider.close();
    await ingestion.close();
  });

  const completion = (over: Record<string, unknown> = {}) => ({
    run_id: expect.any(String),
    agent_id: 'support-triage',
    model: 'gpt-4o-2024-08-06',
    provider: 'openai',
    input_tokens: 2480,
    output_tokens: 514,
    cache_read_tokens: 1024,
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
    started_at: ISO,
    finished_at: ISO,
    status: 'success',
    customer_id: 'cus_8821',
    feature: 'inbox-autoreply',
    cost_centre: null,
    session_id: expect.any(String),
    tool: null,
    parent_run_id: expect.any(String),
    tags: {},
    source: 'sdk',
    ...over,
  });

  it('records a completion with prompt_tokens (cached included), cached_tokens and the model as returned', async () => {
    const answer = await sut.run(
      { agent_id: 'support-triage', customer_id: 'cus_8821', feature: 'inbox-autoreply' },
      () => openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(answer.choices[0].message.content).toBe('Hello! How can I help?');
    await sut.flush();
    const [run, agent] = ingestion.runs;
    expect(run).toEqual(completion());
    expect(agent).toMatchObject({ model: 'agent', provider: 'burnrate', input_tokens: 0, output_tokens: 0 });
    expect(run.parent_run_id).toBe(agent.run_id);
    expect(run.session_id).toBe(agent.run_id);
    expect(ingestion.seen[0].headers.authorization).toBe('Bearer br_test_key');
  });

  it('asks for usage on a stream, reads it from the last chunk, and gives the caller the stream it asked for', async () => {
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    await sut.run(
      { agent_id: 'support-triage', customer_id: 'cus_8821', feature: 'inbox-autoreply' },
      async () => {
        const stream = await openai.chat.completions.create({
          model: 'gpt-4o',
          messages: [{ role: 'user', content: 'hi' }],
          stream: true,
        });
        for await (const chunk of stream) chunks.push(chunk);
      },
    );
    expect((provider.seen[0].body as { stream_options: unknown }).stream_options).toEqual({
      include_usage: true,
    });
    // What the caller would have had without the SDK: no usage-only chunk, no usage field.
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? null)).toEqual(['', 'Hello', '!', null]);
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    await sut.flush();
    expect(ingestion.runs[0]).toEqual(completion());
  });

  it('leaves a stream alone when the caller asked for usage itself, and still reads it', async () => {
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    const stream = await sut.run({ agent_id: 'support-triage' }, () =>
      openai.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(5);
    expect(chunks[4].usage?.prompt_tokens).toBe(2480);
    await sut.flush();
    expect(ingestion.runs.find((r) => r.model !== 'agent')).toEqual(
      completion({ customer_id: null, feature: null }),
    );
  });

  it.each([false, true])(
    'records a Responses API call (streamed: %s) with input_tokens and cached_tokens',
    async (stream) => {
      const events: string[] = [];
      await sut.run({ agent_id: 'support-triage' }, async () => {
        if (!stream)
          return void (await openai.responses.create({ model: 'gpt-4.1-2025-04-14', input: 'hi' }));
        for await (const e of await openai.responses.create({
          model: 'gpt-4.1',
          input: 'hi',
          stream: true,
        })) {
          events.push(e.type);
        }
      });
      if (stream)
        expect(events).toEqual(['response.created', 'response.output_text.delta', 'response.completed']);
      await sut.flush();
      expect(ingestion.runs[0]).toEqual(
        completion({
          model: stream ? 'gpt-4.1' : 'gpt-4.1-2025-04-14',
          input_tokens: 3600,
          output_tokens: 870,
          cache_read_tokens: 2048,
          customer_id: null,
          feature: null,
        }),
      );
    },
  );

  it('records an API error as an error run with no tokens, and rethrows it', async () => {
    await expect(
      sut.run({ agent_id: 'support-triage' }, () =>
        openai.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'hi' }] }),
      ),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await sut.flush();
    const [run, agent] = ingestion.runs;
    expect(run).toMatchObject({
      model: 'missing',
      provider: 'openai',
      status: 'error',
      input_tokens: 0,
      output_tokens: 0,
      cache_read_tokens: null,
    });
    expect(agent).toMatchObject({ model: 'agent', status: 'error' });
  });

  it('keeps withResponse() working', async () => {
    const { data, response } = await sut.run({ agent_id: 'support-triage' }, () =>
      openai.chat.completions
        .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
        .withResponse(),
    );
    expect(response.status).toBe(200);
    expect(data.model).toBe('gpt-4o-2024-08-06');
    await sut.flush();
    expect(ingestion.runs).toHaveLength(2);
  });

  it('needs an agent outside any run: defaultAgentId, or a clear error', async () => {
    expect(() =>
      openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    ).toThrow(/outside client.run needs an agent/);
    const other = createBurnrate({
      apiKey: 'br_test_key',
      ingestUrl: ingestion.url,
      guard: false,
      defaultAgentId: 'cron-job',
    });
    const wrapped = other.wrapOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: provider.url, maxRetries: 0 }));
    await wrapped.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    await other.shutdown();
    expect(ingestion.runs).toEqual([
      completion({
        agent_id: 'cron-job',
        customer_id: null,
        feature: null,
        parent_run_id: null,
        session_id: null,
      }),
    ]);
  });

  it('leaves the rest of the client as it was', () => {
    expect(openai.baseURL).toBe(provider.url);
    expect(openai.chat).toBe(openai.chat);
    expect(typeof openai.models.list).toBe('function');
  });
});
