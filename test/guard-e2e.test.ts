import OpenAI from 'openai';
import { AgentBlockedError, createBurnrate } from '@burnrate/sdk';
import { detectorTopics, topicsIn } from '@libs/contracts';
import { provisionTopics } from '@libs/kafka';
import { fakeOpenAI } from '../packages/sdk/src/spec-support/providers';
import type { LocalServer } from '../packages/sdk/src/spec-support/servers';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const ns = `guard${uid()}`;

/**
 * The guard end to end, every part real and its own process: an agent instrumented only with the SDK calls a model
 * (the official OpenAI client on a local server) in a loop; its runs go through ingestion, pricing and the aggregator's
 * windows; the detector decides the block and publishes it; the api serves it from memory; and the SDK refuses the
 * next call with AgentBlockedError naming the rule — within seconds of the run that crossed the limit.
 */
describe('the guard, SDK to SDK (ingestion, pricing, aggregator, detector, api)', () => {
  const services: ServiceProcess[] = [];
  const team = `team-${ns}`;
  let key: string;
  let openaiServer: LocalServer;

  beforeAll(async () => {
    await migrated();
    key = (await createKey(team)).key;
    const kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    const d = detectorTopics(ns);
    await provisionTopics(admin, config, [...Object.values(topicsIn(ns)), d.agents, d.teams]);
    await admin.disconnect();
    const env = (name: string) => ({
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: `${name}-${ns}`,
      INSTANCE_ID: ns,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      POLL_MS: '100',
      SETTINGS_POLL_MS: '500',
    });
    const ports = { ingestion: 18841, pricing: 18842, aggregator: 18843, detector: 18844, api: 18845 };
    services.push(
      ...(await Promise.all(
        Object.entries(ports).map(([name, port]) => startService(name, port, env(name))),
      )),
    );
    openaiServer = await fakeOpenAI();
  }, 180_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await openaiServer?.close();
  });

  const url = (name: string) => services.find((s) => s.name === name)!.url;

  it('refuses a looping agent past its limit within seconds, and names the rule', async () => {
    const put = await fetch(`${url('api')}/v1/teams/${team}/settings`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        guard: {
          rules: [
            {
              id: 'loop-cap',
              action: 'block',
              match: { agent: 'looper-*' },
              limit: { metric: 'runs', amount: 10, window_s: 600 },
            },
          ],
        },
      }),
    });
    expect(put.status).toBe(200);

    const sut = createBurnrate({
      apiKey: key,
      ingestUrl: url('ingestion'),
      apiUrl: url('api'),
      guard: { cacheMs: 200, failClosed: true },
      flushIntervalMs: 100,
    });
    const openai = sut.wrapOpenAI(
      new OpenAI({ apiKey: 'sk-test', baseURL: openaiServer.url, maxRetries: 0 }),
    );
    const quiet = sut.wrapOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: openaiServer.url, maxRetries: 0 }));

    // each call is two runs (the agent's run and its completion): the sixth call's runs cross 10 in 600 s
    let calls = 0;
    let crossedAt: number | null = null;
    let blocked: AgentBlockedError | null = null;
    const deadline = Date.now() + 90_000;
    while (!blocked && Date.now() < deadline) {
      try {
        await sut.run({ agent_id: 'looper-1', customer_id: 'acme' }, async () => {
          await openai.chat.completions.create({
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: 'again' }],
          });
        });
        calls++;
        if (calls === 6) {
          await sut.flush();
          crossedAt = Date.now();
        }
      } catch (err) {
        if (!(err instanceof AgentBlockedError)) throw err;
        blocked = err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(blocked).toBeInstanceOf(AgentBlockedError);
    expect(calls).toBeGreaterThanOrEqual(6);
    const afterS = (Date.now() - crossedAt!) / 1000;
    expect(afterS).toBeLessThan(30);
    expect(blocked!.agentId).toBe('looper-1');
    expect(blocked!.message).toContain('loop-cap');
    expect(blocked!.reasons).toEqual([expect.objectContaining({ source: 'rule', source_id: 'loop-cap' })]);
    expect(Date.parse(blocked!.until!)).toBeGreaterThan(Date.now());

    // refused before the provider is called: the model server sees no further request
    const seen = openaiServer.seen.length;
    await expect(
      sut.run({ agent_id: 'looper-1' }, () =>
        openai.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'more' }],
        }),
      ),
    ).rejects.toBeInstanceOf(AgentBlockedError);
    expect(openaiServer.seen.length).toBe(seen);

    // another agent of the team, under no rule, is not refused
    await sut.run({ agent_id: 'planner' }, () =>
      quiet.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    );
    await sut.shutdown();
    console.log(`guard: blocked ${afterS.toFixed(1)} s after the crossing call was flushed`);
  }, 180_000);
});
