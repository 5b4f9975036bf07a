import OpenAI from 'openai';
import { createBurnrate, type Burnrate, type BurnrateOptions } from './client';
import { AgentBlockedError, GuardClient, GuardUnavailableError, type GuardDecision } from './guard';
import { fakeOpenAI } from './spec-support/providers';
import { ingestionStandIn, json, localServer, type LocalServer } from './spec-support/servers';

const BLOCK: GuardDecision = {
  decision: 'block',
  reasons: [
    {
      source: 'rule',
      source_id: 'loop_detection',
      reason: 'runs per minute 412 over the limit of 120',
      until: '2026-06-09T10:00:00Z',
    },
  ],
  until: '2026-06-09T10:00:00Z',
};

describe(GuardClient.name, () => {
  let provider: LocalServer;
  let ingestion: Awaited<ReturnType<typeof ingestionStandIn>>;
  let guardServer: LocalServer;
  let answer: (res: Parameters<typeof json>[0]) => void;
  const clients: Burnrate[] = [];

  beforeEach(async () => {
    provider = await fakeOpenAI();
    ingestion = await ingestionStandIn();
    answer = (res) => json(res, 200, { decision: 'allow', reasons: [], until: null });
    guardServer = await localServer((_req, res) => answer(res));
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.shutdown()));
    await Promise.all([provider.close(), ingestion.close(), guardServer.close()]);
  });

  function setup(options: Partial<BurnrateOptions> = {}) {
    const client = createBurnrate({
      apiKey: 'br_test_key',
      ingestUrl: ingestion.url,
      apiUrl: guardServer.url,
      onError: () => undefined,
      ...options,
    });
    clients.push(client);
    const openai = client.wrapOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: provider.url, maxRetries: 0 }));
    const ask = () =>
      openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    return { client, ask };
  }

  it('asks before each completion with the agent, customer and tool, and lets an allowed one through', async () => {
    const { client, ask } = setup();
    await client.run({ agent_id: 'research-agent', customer_id: 'cus_8821', tool: 'web-search' }, ask);
    expect(guardServer.seen).toHaveLength(1);
    const url = new URL(guardServer.seen[0].url, guardServer.url);
    expect(url.pathname).toBe('/v1/guard');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      agent_id: 'research-agent',
      customer_id: 'cus_8821',
      tool: 'web-search',
    });
    expect(guardServer.seen[0].headers.authorization).toBe('Bearer br_test_key');
    expect(provider.seen).toHaveLength(1);
  });

  it('refuses a blocked agent with AgentBlockedError, without calling the model', async () => {
    answer = (res) => json(res, 200, BLOCK);
    const { client, ask } = setup();
    const err = await client.run({ agent_id: 'research-agent' }, ask).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentBlockedError);
    expect(err).toMatchObject({ agentId: 'research-agent', reasons: BLOCK.reasons, until: BLOCK.until });
    expect((err as Error).message).toBe(
      'agent "research-agent" is blocked by burnrate (rule loop_detection: runs per minute 412 over the limit of 120) ' +
        'until 2026-06-09T10:00:00Z',
    );
    expect(provider.seen).toHaveLength(0);
    await client.flush();
    expect(ingestion.runs).toEqual([expect.objectContaining({ model: 'agent', status: 'error' })]);
  });

  it('reuses a decision for cacheMs per (agent, customer, tool)', async () => {
    const { client, ask } = setup({ guard: { cacheMs: 150 } });
    await client.run({ agent_id: 'a', customer_id: 'c1' }, async () => {
      await Promise.all([ask(), ask()]);
      await ask();
    });
    expect(guardServer.seen).toHaveLength(1);
    await client.run({ agent_id: 'a', customer_id: 'c2' }, ask);
    expect(guardServer.seen).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 200));
    await client.run({ agent_id: 'a', customer_id: 'c1' }, ask);
    expect(guardServer.seen).toHaveLength(3);
  });

  it('allows when the guard cannot answer (fail-open), and counts it', async () => {
    answer = (res) => json(res, 503, { error: { code: 'unavailable' } });
    const { client, ask } = setup();
    await client.run({ agent_id: 'a' }, ask);
    expect(provider.seen).toHaveLength(1);
    expect(client.stats().guardFailures).toBe(1);

    await guardServer.close();
    const down = setup({ guard: { cacheMs: 0 } });
    await down.client.run({ agent_id: 'b' }, down.ask);
    expect(provider.seen).toHaveLength(2);
    expect(down.client.stats().guardFailures).toBe(1);
  });

  it('refuses when the guard cannot answer and failClosed is set', async () => {
    answer = (res) => json(res, 500, { error: { code: 'internal' } });
    const { client, ask } = setup({ guard: { failClosed: true } });
    const err = await client.run({ agent_id: 'a' }, ask).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuardUnavailableError);
    expect(err).toBeInstanceOf(AgentBlockedError);
    expect((err as Error).message).toMatch(/could not be asked \(GET \/v1\/guard answered 500\)/);
    expect(provider.seen).toHaveLength(0);
    expect(client.stats().guardFailures).toBe(1);
  });

  it('asks nothing with guard: false', async () => {
    answer = (res) => json(res, 200, BLOCK);
    const { client, ask } = setup({ guard: false });
    await client.run({ agent_id: 'a' }, ask);
    expect(guardServer.seen).toHaveLength(0);
    expect(provider.seen).toHaveLength(1);
  });
});
