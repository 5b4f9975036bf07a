import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { topicsIn, validateRunEvent, type RunEvent } from '@libs/contracts';
import { AvroSerde } from '@libs/kafka';
import { createKey, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const PORT = 18083;
// Topics of this file's own (as in ingestion.test.ts): reading the default runs.raw from its start after a demo could
// settle on old records before reaching this file's.
const NS = `p${uid()}`;
const Topics = topicsIn(NS);

/** docs/producers.md, "Straight onto Kafka": the example producer, run as a separate process, against the real stack. */
describe('examples/publish-runs.ts (a producer outside burnrate, on Kafka)', () => {
  let svc: ServiceProcess;

  beforeAll(async () => {
    // registers the schemas and creates the topics, as in production
    svc = await startService('ingestion', PORT, { BURNRATE_TOPIC_NAMESPACE: NS });
  });

  afterAll(async () => {
    await svc?.stop();
  });

  it('writes the documented wire format, valid runs, in the partition HTTP uses for the same agent', async () => {
    const team = `team-${uid()}`;
    const prefix = `example-${uid()}`;
    const out = execFileSync(
      process.execPath,
      ['-r', '@swc-node/register', resolve(__dirname, '../examples/publish-runs.ts')],
      {
        env: { ...process.env, TEAM: team, COUNT: '5', RUN_PREFIX: prefix, TOPIC: Topics.runsRaw.name },
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/published 5 runs to burnrate\.runs\.raw\.v1/);

    const { key } = await createKey(team);
    const viaHttp = {
      run_id: `${prefix}-http`,
      agent_id: 'research-agent',
      model: 'gpt-4o',
      input_tokens: 10,
      output_tokens: 2,
      started_at: new Date(Date.now() - 2000).toISOString(),
      finished_at: new Date(Date.now() - 1000).toISOString(),
      status: 'success',
    };
    const res = await fetch(`${svc.url}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(viaHttp),
    });
    expect(res.status).toBe(202);

    const registered = (await (
      await fetch(`${config.SCHEMA_REGISTRY_URL}/subjects/${Topics.runsRaw.name}-value/versions/latest`)
    ).json()) as { id: number };
    const serde = await AvroSerde.create(config, [Topics.runsRaw]);
    const records = (
      await readTopic<RunEvent>(testKafka(config), Topics.runsRaw, { expected: 6, serde })
    ).filter((r) => r.value.run_id.startsWith(prefix));
    const published = records.filter((r) => r.value.source === 'kafka');
    expect(published).toHaveLength(5);
    for (const r of published) {
      expect(r.raw![0]).toBe(0);
      expect(r.raw!.readUInt32BE(1)).toBe(registered.id);
      expect(r.key).toBe(`${team}/research-agent`);
      expect(validateRunEvent(r.value)).toMatchObject({ ok: true });
    }
    const http = records.find((r) => r.value.run_id === viaHttp.run_id)!;
    expect(http.key).toBe(`${team}/research-agent`);
    expect(new Set(records.map((r) => r.partition))).toEqual(new Set([http.partition]));
  });
});
