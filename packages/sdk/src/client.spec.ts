import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import { createBurnrate, type Burnrate } from './client';
import { fakeOpenAI } from './spec-support/providers';
import { ingestionStandIn, type LocalServer } from './spec-support/servers';

describe(createBurnrate.name, () => {
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

  const ask = () =>
    openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('gives each run its parent across awaits and concurrent branches, and the root run_id as the session', async () => {
    const ids: Record<string, string> = {};
    await sut.run(
      {
        agent_id: 'planner',
        customer_id: 'acme',
        feature: 'research',
        cost_centre: 'cc-1',
        tags: { env: 'prod' },
      },
      async () => {
        ids.root = sut.currentRun()!.run_id;
        await ask();
        // Two sub-agents at once, the slower one started first: each completion must find its own parent.
        await Promise.all([
          sut.run({ agent_id: 'searcher', run_id: 'run-searcher', tags: { step: 'search' } }, async () => {
            await pause(30);
            await ask();
          }),
          sut.run({ run_id: 'run-summary', customer_id: 'globex' }, async () => {
            await ask();
            await sut.run({ run_id: 'run-deep', session_id: 'sess-own' }, ask);
          }),
        ]);
      },
    );
    await sut.flush();
    const runs = ingestion.runs;
    expect(runs).toHaveLength(8);
    const agentRuns = new Map(runs.filter((r) => r.model === 'agent').map((r) => [r.run_id as string, r]));
    const completionsUnder = (parent: string) =>
      runs.filter((r) => r.model !== 'agent' && r.parent_run_id === parent);

    const root = agentRuns.get(ids.root)!;
    expect(root).toMatchObject({
      agent_id: 'planner',
      parent_run_id: null,
      session_id: ids.root,
      customer_id: 'acme',
      feature: 'research',
      cost_centre: 'cc-1',
      provider: 'burnrate',
      input_tokens: 0,
      output_tokens: 0,
      cache_read_tokens: null,
      status: 'success',
      tags: { env: 'prod' },
    });
    expect(agentRuns.get('run-searcher')).toMatchObject({
      agent_id: 'searcher',
      parent_run_id: ids.root,
      session_id: ids.root,
      customer_id: 'acme',
      tags: { env: 'prod', step: 'search' },
    });
    expect(agentRuns.get('run-summary')).toMatchObject({
      agent_id: 'planner',
      parent_run_id: ids.root,
      session_id: ids.root,
      customer_id: 'globex',
    });
    expect(agentRuns.get('run-deep')).toMatchObject({
      agent_id: 'planner',
      parent_run_id: 'run-summary',
      session_id: 'sess-own',
      customer_id: 'globex',
    });
    expect(completionsUnder(ids.root)).toEqual([
      expect.objectContaining({ agent_id: 'planner', session_id: ids.root }),
    ]);
    expect(completionsUnder('run-searcher')).toEqual([
      expect.objectContaining({
        agent_id: 'searcher',
        customer_id: 'acme',
        tags: { env: 'prod', step: 'search' },
      }),
    ]);
    expect(completionsUnder('run-summary')).toEqual([
      expect.objectContaining({ agent_id: 'planner', customer_id: 'globex', session_id: ids.root }),
    ]);
    expect(completionsUnder('run-deep')).toEqual([expect.objectContaining({ session_id: 'sess-own' })]);
    // Agent runs carry no tokens: the completions' tokens are counted once, on the completions.
    const tokens = runs.reduce((n, r) => n + (r.input_tokens as number), 0);
    expect(tokens).toBe(4 * 2480);
  });

  it('records a run whose function throws as an error, with its times, and rethrows', async () => {
    const boom = new Error('tool failed');
    const before = Date.now();
    await expect(
      sut.run({ agent_id: 'planner' }, async () => {
        await pause(20);
        throw boom;
      }),
    ).rejects.toBe(boom);
    await sut.flush();
    const [run] = ingestion.runs;
    expect(run).toMatchObject({ agent_id: 'planner', model: 'agent', status: 'error' });
    const started = Date.parse(run.started_at as string);
    const finished = Date.parse(run.finished_at as string);
    expect(started).toBeGreaterThanOrEqual(before);
    expect(finished - started).toBeGreaterThanOrEqual(15);
  });

  it('needs an agent for the outermost run', async () => {
    await expect(sut.run({}, () => 1)).rejects.toThrow(/needs an agent_id/);
  });

  it('returns what the function returns, sync or async', async () => {
    await expect(sut.run({ agent_id: 'a' }, () => 42)).resolves.toBe(42);
    await expect(sut.run({ agent_id: 'a' }, async () => 'x')).resolves.toBe('x');
  });

  it('refuses to start without an API key unless told where else to send', () => {
    const saved = process.env.BURNRATE_API_KEY;
    delete process.env.BURNRATE_API_KEY;
    try {
      expect(() => createBurnrate({ guard: false })).toThrow(/apiKey is needed/);
    } finally {
      if (saved !== undefined) process.env.BURNRATE_API_KEY = saved;
    }
  });
});

describe('a process using the SDK', () => {
  it('exits on its own when its work is done, sending what was buffered first (beforeExit)', async () => {
    const ingestion = await ingestionStandIn();
    const script = `
      const { createBurnrate } = require(${JSON.stringify(require.resolve('./index'))});
      const client = createBurnrate({ apiKey: 'br_k', ingestUrl: process.env.INGEST, guard: false, flushIntervalMs: 60000 });
      client.run({ agent_id: 'cron' }, async () => 1);
    `;
    const child = spawn(process.execPath, ['-r', '@swc-node/register', '-e', script], {
      env: { ...process.env, INGEST: ingestion.url },
      stdio: 'inherit',
    });
    try {
      // A timer left holding the loop (the 60 s flush interval) would keep it alive past this test's timeout.
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
      expect(ingestion.runs).toEqual([expect.objectContaining({ agent_id: 'cron', model: 'agent' })]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await ingestion.close();
    }
  }, 30_000);
});
