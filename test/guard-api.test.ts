import type { Pool } from 'pg';
import { controlKey, topicsIn, type AgentControl, type AnomalyRecord } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { GuardBlocksRepository } from '../services/api/src/guard/guard-blocks.repository';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const config = testConfig();
const ns = `guard${uid()}`;
const T = topicsIn(ns);
const PORT = 18461;
const HOUR = 3_600_000;
/** Controls on the topic before the api starts: enough that reading them takes longer than a /readyz poll. */
const SEEDED = 30_000;

interface Decision {
  decision: 'allow' | 'block';
  reasons: Record<string, unknown>[];
  until: string | null;
}

function control(over: Partial<AgentControl> & Pick<AgentControl, 'team'>): AgentControl {
  return {
    agent_id: 'researcher',
    customer_id: null,
    tool: null,
    action: 'block',
    source: 'rule',
    source_id: 'r-cost',
    reason: 'spent $12.40 in the last hour, over its $10 limit',
    metric: 'cost',
    amount: 10,
    observed: 12.4,
    window_s: 3600,
    currency: 'USD',
    since: Date.now() - 60_000,
    until: Date.now() + HOUR,
    actor: null,
    incident_dedupe_key: null,
    ...over,
  };
}

describe('guard (api in its own process, real Kafka and PostgreSQL)', () => {
  let api: ServiceProcess;
  let pool: Pool;
  let serde: AvroSerde;
  let producer: BatchProducer;
  const kafka = testKafka(config);
  const teamA = `ga-${uid()}`;
  const teamB = `gb-${uid()}`;
  let keyA: { id: string; key: string };
  let keyB: { id: string; key: string };
  let admin: string;

  /** Produces controls (null: a tombstone) straight onto the topic, as the detector does. */
  const put = (records: [string, AgentControl | null][]) =>
    producer.send(
      records.map(([key, value]) => ({
        topic: T.agentControls.name,
        key,
        value: value === null ? null : serde.encode(T.agentControls, value),
      })),
    );

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
  };

  const guard = async (key: string, query: string): Promise<Decision> => {
    const res = await call('GET', `/v1/guard?${query}`, key);
    expect(res.status).toBe(200);
    return res.body as unknown as Decision;
  };
  const decisionOf = (key: string, query: string) => guard(key, query).then((d) => d.decision);
  const eventually = (what: string, key: string, query: string, expected: 'allow' | 'block') =>
    until(
      what,
      () => decisionOf(key, query),
      (d) => d === expected,
      10_000,
      100,
    );

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    admin = (await createKey('_admin', 'admin')).key;
    keyA = await createKey(teamA);
    keyB = await createKey(teamB);
    const adminClient = kafka.admin();
    await adminClient.connect();
    await provisionTopics(adminClient, config, [T.agentControls, T.anomalies]);
    await adminClient.disconnect();
    serde = await AvroSerde.create(config, [T.agentControls, T.anomalies]);
    producer = new BatchProducer(kafka);
    await producer.connect();
    // on the topic before the api starts: a replica must have read them all before it says it is ready
    const seeded: [string, AgentControl | null][] = [];
    for (let i = 0; i < SEEDED; i++)
      seeded.push([
        controlKey.rule('r-seed', teamA, `seeded-${i}`),
        control({ team: teamA, agent_id: `seeded-${i}`, source_id: 'r-seed' }),
      ]);
    for (let i = 0; i < SEEDED; i += 2) seeded.push([controlKey.rule('r-seed', teamA, `seeded-${i}`), null]);
    await put(seeded);
    api = await startService('api', PORT, { BURNRATE_TOPIC_NAMESPACE: ns, RATE_LIMIT_PER_S: '0' });
  });

  afterAll(async () => {
    await api?.stop();
    await producer?.disconnect();
    await pool?.end();
  });

  it('is ready only once it has read the whole topic: the controls made before it started are in force', async () => {
    const ready = (await (await fetch(`${api.url}/readyz`)).json()) as {
      checks: Record<string, { ok: boolean }>;
    };
    expect(ready.checks['guard-view']).toEqual({ ok: true });
    // no waiting: /readyz answered ready, so every seeded record has been read
    const decisions = await Promise.all(
      [0, 1, 2, 3, SEEDED - 2, SEEDED - 1].map((i) => decisionOf(keyA.key, `agent_id=seeded-${i}`)),
    );
    expect(decisions).toEqual(['allow', 'block', 'allow', 'block', 'allow', 'block']);
  });

  it('blocks on a control the detector writes within seconds, lists it, and allows again on its tombstone', async () => {
    const key = controlKey.rule('r-cost', teamA, 'researcher');
    const written = control({ team: teamA });
    expect(await decisionOf(keyA.key, 'agent_id=researcher')).toBe('allow');
    await put([[key, written]]);
    await eventually('block after the control', keyA.key, 'agent_id=researcher', 'block');
    expect(await guard(keyA.key, 'agent_id=researcher&customer_id=acme&tool=search')).toEqual({
      decision: 'block',
      reasons: [
        {
          source: 'rule',
          source_id: 'r-cost',
          action: 'block',
          reason: written.reason,
          metric: 'cost',
          amount: 10,
          observed: 12.4,
          window_s: 3600,
          currency: 'USD',
          since: new Date(written.since).toISOString(),
          until: new Date(written.until!).toISOString(),
        },
      ],
      until: new Date(written.until!).toISOString(),
    });
    // another team's agent of the same name, and the admin naming that team, are not blocked by it
    expect(await decisionOf(keyB.key, 'agent_id=researcher')).toBe('allow');
    expect(await decisionOf(admin, `agent_id=researcher&team=${teamB}`)).toBe('allow');
    expect(await decisionOf(admin, `agent_id=researcher&team=${teamA}`)).toBe('block');

    await put([[key, null]]);
    await eventually('allow after the tombstone', keyA.key, 'agent_id=researcher', 'allow');
    expect(await guard(keyA.key, 'agent_id=researcher')).toEqual({
      decision: 'allow',
      reasons: [],
      until: null,
    });
  });

  it('reports alert controls without blocking, and ignores a control whose until has passed', async () => {
    await put([
      [
        controlKey.rule('r-alert', teamA, 'summariser'),
        control({ team: teamA, agent_id: 'summariser', source_id: 'r-alert', action: 'alert' }),
      ],
      [
        controlKey.rule('r-past', teamA, 'summariser'),
        control({ team: teamA, agent_id: 'summariser', source_id: 'r-past', until: Date.now() - 1000 }),
      ],
      [
        controlKey.budget('b-acme', teamA),
        control({ team: teamA, agent_id: null, customer_id: 'acme', source: 'budget', source_id: 'b-acme' }),
      ],
    ]);
    await until(
      'the alert listed',
      () => guard(keyA.key, 'agent_id=summariser'),
      (d) => d.reasons.length > 0,
      10_000,
      100,
    );
    const d = await guard(keyA.key, 'agent_id=summariser');
    expect(d.decision).toBe('allow');
    expect(d.reasons.map((r) => [r.source_id, r.action])).toEqual([['r-alert', 'alert']]);
    expect(d.until).toBeNull();
    // the team's budget on customer acme refuses every agent's calls for acme, and only those
    const acme = await guard(keyA.key, 'agent_id=summariser&customer_id=acme');
    expect(acme.decision).toBe('block');
    expect(acme.reasons.map((r) => [r.source_id, r.action])).toEqual([
      ['b-acme', 'block'],
      ['r-alert', 'alert'],
    ]);
    expect(await decisionOf(keyA.key, 'agent_id=summariser&customer_id=globex')).toBe('allow');
  });

  it('blocks an agent by hand: audited, paged, listed; another team cannot see or lift it; DELETE unblocks and resolves', async () => {
    const untilAt = new Date(Date.now() + 2 * HOUR).toISOString();
    const created = await call('POST', '/v1/guard/blocks', keyA.key, {
      agent_id: 'writer',
      reason: 'stuck in a retry loop',
      until: untilAt,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({
      team: teamA,
      agent_id: 'writer',
      customer_id: null,
      tool: null,
      reason: 'stuck in a retry loop',
      until: untilAt,
      state: 'active',
      created_by_key_id: keyA.id,
      lifted_at: null,
    });
    await eventually('block after POST', keyA.key, 'agent_id=writer', 'block');
    const blocked = await guard(keyA.key, 'agent_id=writer');
    expect(blocked.reasons).toMatchObject([
      { source: 'manual', source_id: id, action: 'block', reason: 'stuck in a retry loop', until: untilAt },
    ]);
    expect(blocked.until).toBe(untilAt);

    const row = await pool.query(
      'select team, agent_id, created_by_key_id, lifted_at from guard_blocks where id = $1',
      [id],
    );
    expect(row.rows).toEqual([
      { team: teamA, agent_id: 'writer', created_by_key_id: keyA.id, lifted_at: null },
    ]);
    const listed = await call('GET', '/v1/guard/blocks', keyA.key);
    expect(listed.status).toBe(200);
    expect((listed.body.items as { id: string }[]).map((b) => b.id)).toContain(id);

    // team B: its own agent of that name is allowed, the block is not its to list or lift
    expect(await decisionOf(keyB.key, 'agent_id=writer')).toBe('allow');
    expect((await call('GET', '/v1/guard/blocks', keyB.key)).body.items).toEqual([]);
    expect((await call('DELETE', `/v1/guard/blocks/${id}`, keyB.key)).status).toBe(404);
    expect(await decisionOf(keyA.key, 'agent_id=writer')).toBe('block');

    expect((await call('DELETE', `/v1/guard/blocks/${id}`, keyA.key)).status).toBe(204);
    await eventually('allow after DELETE', keyA.key, 'agent_id=writer', 'allow');
    const lifted = await pool.query<{ lifted_by_key_id: string; lifted_at: Date | null }>(
      'select lifted_by_key_id, lifted_at from guard_blocks where id = $1',
      [id],
    );
    expect(lifted.rows[0].lifted_by_key_id).toBe(keyA.id);
    expect(lifted.rows[0].lifted_at).toBeInstanceOf(Date);
    expect((await call('DELETE', `/v1/guard/blocks/${id}`, keyA.key)).status).toBe(204); // already lifted
    const again = (await call('GET', '/v1/guard/blocks', keyA.key)).body.items as Record<string, unknown>[];
    expect(again.find((b) => b.id === id)).toMatchObject({ state: 'lifted', lifted_by_key_id: keyA.id });

    const dedupeKey = `guard_manual_block|${teamA}|writer|${id}`;
    const anomalies = (await readTopic<AnomalyRecord>(kafka, T.anomalies, { expected: 2, serde }))
      .map((r) => r.value)
      .filter((a) => a.dedupe_key === dedupeKey);
    expect(anomalies.map((a) => [a.state, a.incident_action, a.incident_signals])).toEqual([
      ['firing', 'open', 1],
      ['resolved', 'resolve', 0],
    ]);
    expect(anomalies[0]).toMatchObject({
      rule: 'guard_manual_block',
      severity: 'critical',
      team: teamA,
      agent_id: 'writer',
    });
    expect(anomalies[0].incident_id).toBeTruthy();
    expect(anomalies[1].incident_id).toBe(anomalies[0].incident_id);
    expect(anomalies[0].anomaly_id).not.toBe(anomalies[1].anomaly_id);
  });

  it('lifts a block whose until has passed by itself: the row marked lifted at its until, its incident resolved', async () => {
    const untilAt = new Date(Date.now() + 2000).toISOString();
    const created = await call('POST', '/v1/guard/blocks', keyA.key, {
      agent_id: 'lapsing',
      reason: 'cool down for two seconds',
      until: untilAt,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const row = await until(
      'the lapsed block lifted by the sweep',
      async () =>
        (
          await pool.query<{ lifted_at: Date | null; lifted_by_key_id: string | null }>(
            'select lifted_at, lifted_by_key_id from guard_blocks where id = $1',
            [id],
          )
        ).rows[0],
      (r) => r.lifted_at !== null,
      30_000,
    );
    expect(row).toEqual({ lifted_at: new Date(untilAt), lifted_by_key_id: null });
    expect(await decisionOf(keyA.key, 'agent_id=lapsing')).toBe('allow');
    const dedupeKey = `guard_manual_block|${teamA}|lapsing|${id}`;
    const anomalies = await until(
      'its incident resolved',
      async () =>
        (await readTopic<AnomalyRecord>(kafka, T.anomalies, { expected: 2, serde, settleMs: 500 }))
          .map((r) => r.value)
          .filter((a) => a.dedupe_key === dedupeKey),
      (got) => got.length >= 2,
      20_000,
    );
    expect(anomalies.map((a) => [a.state, a.incident_action, a.detected_at])).toEqual([
      ['firing', 'open', Date.parse(created.body.created_at as string)],
      ['resolved', 'resolve', Date.parse(untilAt)],
    ]);
    expect(anomalies[1].summary).toContain('its block lapsed at');
  });

  it('blocks only the customer or tool named, and an admin blocks in the team it names', async () => {
    const created = await call('POST', '/v1/guard/blocks', admin, {
      team: teamB,
      agent_id: 'scraper',
      reason: 'costly customer',
      customer_id: 'umbrella',
      tool: 'browser',
    });
    expect(created.status).toBe(201);
    await eventually(
      'block for umbrella with browser',
      keyB.key,
      'agent_id=scraper&customer_id=umbrella&tool=browser',
      'block',
    );
    expect(await decisionOf(keyB.key, 'agent_id=scraper&customer_id=umbrella')).toBe('allow');
    expect(await decisionOf(keyB.key, 'agent_id=scraper&customer_id=globex&tool=browser')).toBe('allow');
    expect(await decisionOf(keyA.key, 'agent_id=scraper&customer_id=umbrella&tool=browser')).toBe('allow');
    expect((await call('DELETE', `/v1/guard/blocks/${String(created.body.id)}`, admin)).status).toBe(204);
    await eventually(
      'allow after the admin lifts it',
      keyB.key,
      'agent_id=scraper&customer_id=umbrella&tool=browser',
      'allow',
    );
  });

  it('answers 400 naming each bad field or parameter, and 403 for another team', async () => {
    const bad = await call('POST', '/v1/guard/blocks', keyA.key, {
      agent_id: '',
      reason: 'x'.repeat(501),
      until: '2020-01-01',
      severity: 'high',
    });
    expect(bad.status).toBe(400);
    const fields = [
      ...new Set(((bad.body.error as { details: { field: string }[] }).details ?? []).map((d) => d.field)),
    ].sort();
    expect(fields).toEqual(['agent_id', 'reason', 'severity', 'until']);
    const notIso = await call('POST', '/v1/guard/blocks', keyA.key, {
      agent_id: 'a',
      reason: 'r',
      until: 'tomorrow',
    });
    expect(notIso.status).toBe(400);
    expect((await call('POST', '/v1/guard/blocks', keyA.key, { agent_id: 'a' })).status).toBe(400);
    expect((await call('POST', '/v1/guard/blocks', admin, { agent_id: 'a', reason: 'r' })).status).toBe(400);
    expect(
      (await call('POST', '/v1/guard/blocks', keyA.key, { team: teamB, agent_id: 'a', reason: 'r' })).status,
    ).toBe(403);
    expect((await call('GET', '/v1/guard', keyA.key)).status).toBe(400);
    expect((await call('GET', '/v1/guard?agent_id=a', admin)).status).toBe(400);
    expect((await call('GET', `/v1/guard?agent_id=a&team=${teamB}`, keyA.key)).status).toBe(403);
    expect((await call('GET', '/v1/guard/blocks?cursor=nope', keyA.key)).status).toBe(400);
    expect((await call('DELETE', '/v1/guard/blocks/nope', keyA.key)).status).toBe(400);
    expect(
      (await call('DELETE', `/v1/guard/blocks/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, keyA.key))
        .status,
    ).toBe(404);
  });

  it('pages the blocks newest first with an opaque cursor', async () => {
    const team = `gp-${uid()}`;
    const key = (await createKey(team)).key;
    const ids: string[] = [];
    for (const agent of ['one', 'two', 'three']) {
      const res = await call('POST', '/v1/guard/blocks', key, { agent_id: agent, reason: 'paging' });
      expect(res.status).toBe(201);
      ids.push(res.body.id as string);
    }
    const first = await call('GET', '/v1/guard/blocks?limit=2', key);
    expect((first.body.items as { id: string }[]).map((b) => b.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await call(
      'GET',
      `/v1/guard/blocks?limit=2&cursor=${String(first.body.next_cursor)}`,
      key,
    );
    expect((second.body.items as { id: string }[]).map((b) => b.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
  });

  it('records no block when Kafka does not take its records, and no lifting either', async () => {
    const repository = new GuardBlocksRepository(pool);
    const agent = `unpublished-${uid()}`;
    const refused = () => Promise.reject(new Error('Kafka is down'));
    await expect(
      repository.create(
        {
          team: teamA,
          agent_id: agent,
          customer_id: null,
          tool: null,
          reason: 'r',
          until: null,
          created_by_key_id: keyA.id,
        },
        refused,
      ),
    ).rejects.toThrow('Kafka is down');
    expect((await pool.query('select 1 from guard_blocks where agent_id = $1', [agent])).rowCount).toBe(0);

    const block = await repository.create(
      {
        team: teamA,
        agent_id: agent,
        customer_id: null,
        tool: null,
        reason: 'r',
        until: null,
        created_by_key_id: keyA.id,
      },
      () => Promise.resolve(),
    );
    await expect(repository.lift(block.id, teamA, keyA.id, refused)).rejects.toThrow('Kafka is down');
    const row = await pool.query('select lifted_at from guard_blocks where id = $1', [block.id]);
    expect(row.rows).toEqual([{ lifted_at: null }]);
  });

  it('counts its decisions by outcome and times them', async () => {
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/^burnrate_guard_decisions_total\{[^}]*decision="block"[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^burnrate_guard_decisions_total\{[^}]*decision="allow"[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^burnrate_guard_decision_seconds_count\{[^}]*\} [1-9]/m);
  });
});
