import Anthropic from '@anthropic-ai/sdk';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Partitioners, type Kafka } from 'kafkajs';
import OpenAI from 'openai';
import type { Pool } from 'pg';
import { createBurnrate, type DeliveryFailure } from '@burnrate/sdk';
import { topicsIn, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, provisionTopics } from '@libs/kafka';
import { nanosToDecimal } from '../services/api/src/http';
import { fakeAnthropic, fakeOpenAI } from '../packages/sdk/src/spec-support/providers';
import type { LocalServer } from '../packages/sdk/src/spec-support/servers';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';
import { seededCard, seededCost } from './support/stored';
import { until } from './support/wait';

const config = testConfig();
const ns = `sdk${uid()}`;
const T = topicsIn(ns);

interface TreeNode {
  run_id: string;
  agent_id: string;
  model: string;
  status: string;
  cost: { amount: string; currency: string };
  rolled_up_cost: { amount: string; currency: string };
  children: TreeNode[];
}

/**
 * The SDK against the real services, each its own process: an agent run with two completions (OpenAI, one streamed)
 * and a sub-agent's run with an Anthropic completion, sent through ingestion onto the raw topic, priced, stored, and
 * read back as a call tree from the api. And the same over the Kafka transport, straight onto the raw topic.
 */
describe('@burnrate/sdk (real ingestion, pricing, recorder and api; official provider clients on local servers)', () => {
  const services: ServiceProcess[] = [];
  const team = `team-${ns}`;
  let key: string;
  let kafka: Kafka;
  let serde: AvroSerde;
  let pool: Pool;
  let openaiServer: LocalServer;
  let anthropicServer: LocalServer;

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    key = (await createKey(team)).key;
    kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    const env = (name: string) => ({
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: `${name}-${ns}`,
      INSTANCE_ID: ns,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      POLL_MS: '100',
    });
    const ports = { ingestion: 18821, pricing: 18822, recorder: 18823, api: 18824 };
    services.push(
      ...(await Promise.all(
        Object.entries(ports).map(([name, port]) => startService(name, port, env(name))),
      )),
    );
    serde = await AvroSerde.create(config, [T.runsRaw]);
    openaiServer = await fakeOpenAI();
    anthropicServer = await fakeAnthropic();
  }, 180_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await openaiServer?.close();
    await anthropicServer?.close();
    if (pool) {
      await pool.query('delete from runs where team = $1', [team]);
      await pool.query('delete from spend_hourly where team = $1', [team]);
      await pool.end();
    }
  });

  const url = (name: string) => services.find((s) => s.name === name)!.url;

  async function rawRuns(filter: (r: RunEvent) => boolean, expected: number) {
    return until(
      `${expected} runs on ${T.runsRaw.name}`,
      async () =>
        (await readTopic<RunEvent>(kafka, T.runsRaw, { expected, serde, settleMs: 1000 })).filter((r) =>
          filter(r.value),
        ),
      (got) => got.length >= expected,
      60_000,
      0,
    );
  }

  it('sends an agent run, its completions and a sub-agent through ingestion: parents, session, tokens, tree', async () => {
    const failures: DeliveryFailure[] = [];
    const sut = createBurnrate({
      apiKey: key,
      ingestUrl: url('ingestion'),
      // GET /v1/guard is another change's; the guard's side is covered by the SDK's specs.
      guard: false,
      onError: (f) => failures.push(f),
    });
    const openai = sut.wrapOpenAI(
      new OpenAI({ apiKey: 'sk-test', baseURL: openaiServer.url, maxRetries: 0 }),
    );
    const anthropic = sut.wrapAnthropic(
      new Anthropic({ apiKey: 'sk-ant-test', baseURL: anthropicServer.url, maxRetries: 0 }),
    );
    const messages = [{ role: 'user' as const, content: 'hi' }];
    let root = '';
    let sub = '';
    await sut.run({ agent_id: 'planner', customer_id: 'acme', feature: 'research' }, async () => {
      root = sut.currentRun()!.run_id;
      await openai.chat.completions.create({ model: 'gpt-4o', messages });
      const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages, stream: true });
      for await (const chunk of stream) void chunk;
      await sut.run({ agent_id: 'searcher' }, async () => {
        sub = sut.currentRun()!.run_id;
        await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages });
      });
    });
    await sut.shutdown();
    expect(failures).toEqual([]);
    expect(sut.stats()).toMatchObject({ sent: 5, dropped: 0, failed: 0, buffered: 0 });

    const got = await rawRuns((r) => r.team === team, 5);
    expect(got).toHaveLength(5);
    const runs = got.map((g) => g.value);
    for (const g of got) expect(g.key).toBe(`${team}/${g.value.agent_id}`);
    for (const r of runs) {
      expect(r).toMatchObject({ source: 'sdk', session_id: root, customer_id: 'acme', feature: 'research' });
      expect(r.received_at).toEqual(expect.any(Number));
    }
    const byParent = (parent: string | null) => runs.filter((r) => r.parent_run_id === parent);
    expect(byParent(null)).toEqual([
      expect.objectContaining({
        run_id: root,
        agent_id: 'planner',
        model: 'agent',
        provider: 'burnrate',
        input_tokens: 0,
        output_tokens: 0,
        status: 'success',
      }),
    ]);
    const openaiRun = {
      agent_id: 'planner',
      model: 'gpt-4o-2024-08-06',
      provider: 'openai',
      input_tokens: 2480,
      output_tokens: 514,
      cache_read_tokens: 1024,
      cache_write_tokens: null,
      status: 'success',
    };
    expect(byParent(root)).toEqual(
      expect.arrayContaining([
        expect.objectContaining(openaiRun),
        expect.objectContaining(openaiRun),
        expect.objectContaining({ run_id: sub, agent_id: 'searcher', model: 'agent', input_tokens: 0 }),
      ]),
    );
    expect(byParent(root)).toHaveLength(3);
    expect(byParent(sub)).toEqual([
      expect.objectContaining({
        agent_id: 'searcher',
        model: 'claude-sonnet-4-5-20250929',
        provider: 'anthropic',
        input_tokens: 2400,
        output_tokens: 610,
        cache_read_tokens: 12000,
        cache_write_tokens: 3000,
        cache_write_1h_tokens: 2000,
      }),
    ]);

    // Priced (the agent runs at 0, with no rate), stored, and served as one tree whose root holds every completion.
    const card = await seededCard();
    const cost = (r: RunEvent) => (r.model === 'agent' ? 0n : seededCost(card, r));
    const total = runs.reduce((sum, r) => sum + cost(r), 0n);
    const tree = (await until(
      'the call tree of the root run',
      async () => {
        const res = await fetch(`${url('api')}/v1/runs/${root}/tree`, {
          headers: { authorization: `Bearer ${key}` },
        });
        return res.ok ? ((await res.json()) as TreeNode & { truncated: boolean }) : null;
      },
      (t) => t !== null && t.rolled_up_cost.amount === nanosToDecimal(total),
      60_000,
    ))!;
    expect(tree).toMatchObject({ run_id: root, model: 'agent', status: 'success', truncated: false });
    expect(tree.cost.amount).toBe(nanosToDecimal(0));
    expect(tree.children).toHaveLength(3);
    const subNode = tree.children.find((c) => c.run_id === sub)!;
    expect(subNode.cost.amount).toBe(nanosToDecimal(0));
    expect(subNode.children.map((c) => c.model)).toEqual(['claude-sonnet-4-5-20250929']);
    expect(subNode.rolled_up_cost.amount).toBe(
      nanosToDecimal(cost(runs.find((r) => r.parent_run_id === sub)!)),
    );
    const { rows } = await pool.query<{ price_status: string; n: string }>(
      'select price_status, count(*) as n from runs where team = $1 group by 1',
      [team],
    );
    expect(rows).toEqual([{ price_status: 'priced', n: '5' }]);
  }, 180_000);

  it('publishes Avro straight onto the raw topic with the Kafka transport, keyed <team>/<agent_id>', async () => {
    const registry = new SchemaRegistry({ host: config.SCHEMA_REGISTRY_URL });
    const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const kafkaTeam = `kteam-${ns}`;
    const sut = createBurnrate({
      kafka: { producer, registry, team: kafkaTeam, topic: T.runsRaw.name },
      guard: false,
    });
    const anthropic = sut.wrapAnthropic(
      new Anthropic({ apiKey: 'sk-ant-test', baseURL: anthropicServer.url, maxRetries: 0 }),
    );
    let root = '';
    await sut.run({ agent_id: 'batch-worker', tags: { env: 'prod' } }, async () => {
      root = sut.currentRun()!.run_id;
      const stream = await anthropic.messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      for await (const event of stream) void event;
    });
    await sut.shutdown();
    await producer.disconnect();
    expect(sut.stats()).toMatchObject({ sent: 2, failed: 0 });

    const got = await rawRuns((r) => r.team === kafkaTeam, 2);
    const schemaId = await registry.getLatestSchemaId(`${T.runsRaw.name}-value`);
    for (const g of got) {
      expect(g.key).toBe(`${kafkaTeam}/batch-worker`);
      expect(g.raw![0]).toBe(0);
      expect(g.raw!.readInt32BE(1)).toBe(schemaId);
    }
    const completion = got.find((g) => g.value.model !== 'agent')!.value;
    expect(completion).toMatchObject({
      team: kafkaTeam,
      agent_id: 'batch-worker',
      parent_run_id: root,
      session_id: root,
      model: 'claude-sonnet-4-5-20250929',
      input_tokens: 25,
      output_tokens: 15,
      cache_read_tokens: 4000,
      source: 'sdk',
      tags: { env: 'prod' },
      received_at: null,
    });
  }, 120_000);
});
