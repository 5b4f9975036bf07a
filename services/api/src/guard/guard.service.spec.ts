import { Topics, type AgentControl, type AnomalyRecord } from '@libs/contracts';
import { JsonLogger, Metrics } from '@libs/observability';
import { GuardKafkaUnavailable, type AgentControlsKafka, type GuardRecord } from './agent-controls.kafka';
import { ControlView } from './core/control-view';
import type { ManualBlock } from './core/manual-block';
import type { GuardBlocksRepository, NewManualBlock } from './guard-blocks.repository';
import { GuardService } from './guard.service';

const ADMIN = { keyId: 'k-1', team: 'platform', role: 'admin' as const };

/** guard_blocks as the repository keeps it: a row exists only when the step given to create/lift resolved. */
class FakeBlocks {
  rows = new Map<string, ManualBlock>();
  failCommit = false;
  private next = 0;

  async create(input: NewManualBlock, publish: (b: ManualBlock) => Promise<void>): Promise<ManualBlock> {
    const block: ManualBlock = {
      ...input,
      id: `b-${++this.next}`,
      created_at: 1_000_000,
      lifted_by_key_id: null,
      lifted_at: null,
    };
    await publish(block);
    if (this.failCommit) throw new Error('connection lost at commit');
    this.rows.set(block.id, block);
    return block;
  }

  /** Lapsed and not lifted: lifted at their until, kept only once published. */
  async expireDue(limit: number, publish: (b: ManualBlock[]) => Promise<void>): Promise<ManualBlock[]> {
    const due = [...this.rows.values()]
      .filter((b) => b.lifted_at === null && b.until !== null && b.until <= Date.now())
      .slice(0, limit)
      .map((b) => ({ ...b, lifted_at: b.until }));
    if (due.length) await publish(due);
    for (const b of due) this.rows.set(b.id, b);
    return due;
  }

  async lift(id: string, team: string | null, keyId: string, publish: (b: ManualBlock) => Promise<void>) {
    const row = this.rows.get(id);
    if (!row || (team !== null && row.team !== team)) return null;
    const lifted = { ...row, lifted_by_key_id: keyId, lifted_at: 2_000_000 };
    await publish(lifted);
    this.rows.set(id, lifted);
    return lifted;
  }
}

/** Kafka as the guard sees it: every record published, or the failure asked for. */
class FakeKafka {
  published: GuardRecord[][] = [];
  failure: GuardKafkaUnavailable | null = null;

  async publish(records: GuardRecord[]): Promise<void> {
    const failure = this.failure;
    this.failure = null; // one failure: the withdrawal that follows goes out
    if (failure) {
      if (failure.maybeSent) this.published.push(records);
      throw failure;
    }
    this.published.push(records);
  }
}

const input = {
  team: 'support',
  agent_id: 'triage',
  customer_id: null,
  tool: null,
  reason: 'stuck in a loop',
  until: null,
};

describe(GuardService.name, () => {
  let blocks: FakeBlocks;
  let kafka: FakeKafka;
  let view: ControlView;
  let metrics: Metrics;
  let sut: GuardService;

  beforeEach(() => {
    blocks = new FakeBlocks();
    kafka = new FakeKafka();
    view = new ControlView();
    metrics = new Metrics('test');
    sut = new GuardService(
      view,
      kafka as unknown as AgentControlsKafka,
      blocks as unknown as GuardBlocksRepository,
      { get: async () => ({ name: 'oncall' }) as never },
      metrics,
      new JsonLogger({}, 'fatal', () => undefined),
    );
  });

  const sent = () =>
    kafka.published.map((rs) => rs.map((r) => [r.topic.name, r.key, r.value === null ? null : 'value']));

  it('records a block once its control and its page are published', async () => {
    const block = await sut.block(input, ADMIN);
    expect(blocks.rows.get(block.id)).toEqual(block);
    const [[control, anomaly]] = kafka.published;
    expect(control).toMatchObject({ topic: Topics.agentControls, key: `manual:${block.id}` });
    expect(control.value).toMatchObject({
      team: 'support',
      agent_id: 'triage',
      action: 'block',
      source: 'manual',
      source_id: block.id,
      reason: 'stuck in a loop',
      since: 1_000_000,
      until: null,
      actor: 'k-1 (oncall)',
      incident_dedupe_key: `guard_manual_block|support|triage|${block.id}`,
    } satisfies Partial<AgentControl>);
    expect(anomaly).toMatchObject({ topic: Topics.anomalies, key: 'support/triage' });
    expect(anomaly.value).toMatchObject({
      rule: 'guard_manual_block',
      severity: 'critical',
      state: 'firing',
      dedupe_key: `guard_manual_block|support|triage|${block.id}`,
      incident_action: 'open',
      incident_signals: 1,
    } satisfies Partial<AnomalyRecord>);
  });

  it('records nothing and sends nothing more when Kafka was not reached', async () => {
    kafka.failure = new GuardKafkaUnavailable('not connected', false);
    await expect(sut.block(input, ADMIN)).rejects.toBeInstanceOf(GuardKafkaUnavailable);
    expect(blocks.rows.size).toBe(0);
    expect(kafka.published).toEqual([]);
  });

  it('withdraws a block whose records may have gone out though the send failed', async () => {
    kafka.failure = new GuardKafkaUnavailable('timed out', true);
    await expect(sut.block(input, ADMIN)).rejects.toBeInstanceOf(GuardKafkaUnavailable);
    expect(blocks.rows.size).toBe(0);
    expect(sent()).toEqual([
      [
        [Topics.agentControls.name, 'manual:b-1', 'value'],
        [Topics.anomalies.name, 'support/triage', 'value'],
      ],
      [
        [Topics.agentControls.name, 'manual:b-1', null],
        [Topics.anomalies.name, 'support/triage', 'value'],
      ],
    ]);
    expect(kafka.published[1][1].value).toMatchObject({ state: 'resolved', incident_action: 'resolve' });
  });

  it('withdraws a published block whose row could not be committed', async () => {
    blocks.failCommit = true;
    await expect(sut.block(input, ADMIN)).rejects.toThrow('connection lost at commit');
    expect(kafka.published.map((rs) => rs[0].value === null)).toEqual([false, true]);
  });

  it('lifts with a tombstone and the resolve of its incident, and answers null for no such block', async () => {
    const block = await sut.block(input, ADMIN);
    expect(await sut.lift(block.id, 'billing', ADMIN)).toBeNull();
    const lifted = await sut.lift(block.id, 'support', ADMIN);
    expect(lifted).toMatchObject({ lifted_by_key_id: 'k-1', lifted_at: 2_000_000 });
    const [tombstone, resolve] = kafka.published[1];
    expect([tombstone.key, tombstone.value]).toEqual([`manual:${block.id}`, null]);
    const firing = kafka.published[0][1].value as AnomalyRecord;
    expect(resolve.value).toMatchObject({
      state: 'resolved',
      incident_action: 'resolve',
      incident_signals: 0,
      incident_id: firing.incident_id,
      dedupe_key: firing.dedupe_key,
      detected_at: 2_000_000,
    });
    expect((resolve.value as AnomalyRecord).anomaly_id).not.toBe(firing.anomaly_id);
  });

  it('lifts a lapsed block at its until, resolving its incident, once; a failed send leaves it for the next sweep', async () => {
    const until = Date.now() - 1000;
    const lapsed = await sut.block({ ...input, until }, ADMIN);
    await sut.block({ ...input, agent_id: 'other', until: Date.now() + 60_000 }, ADMIN);
    await sut.block({ ...input, agent_id: 'forever' }, ADMIN);
    kafka.failure = new GuardKafkaUnavailable('not connected', false);
    await expect(sut.expire()).rejects.toBeInstanceOf(GuardKafkaUnavailable);
    expect(blocks.rows.get(lapsed.id)?.lifted_at).toBeNull();

    expect(await sut.expire()).toBe(1);
    expect(blocks.rows.get(lapsed.id)).toMatchObject({ lifted_at: until, lifted_by_key_id: null });
    const [tombstone, resolve] = kafka.published[kafka.published.length - 1];
    expect([tombstone.key, tombstone.value]).toEqual([`manual:${lapsed.id}`, null]);
    expect(resolve.value).toMatchObject({
      state: 'resolved',
      incident_action: 'resolve',
      detected_at: until,
    });
    expect((resolve.value as AnomalyRecord).summary).toContain('its block lapsed at');
    expect(await sut.expire()).toBe(0);
  });

  it('decides from the view, and counts the decisions by outcome', async () => {
    view.apply('manual:x', {
      team: 'support',
      agent_id: 'triage',
      customer_id: null,
      tool: null,
      action: 'block',
      source: 'manual',
      source_id: 'x',
      reason: 'r',
      metric: null,
      amount: null,
      observed: null,
      window_s: null,
      currency: null,
      since: 0,
      until: null,
      actor: null,
      incident_dedupe_key: null,
    });
    const query = { team: 'support', customer_id: null, tool: null };
    expect(sut.decide({ ...query, agent_id: 'triage' }).decision).toBe('block');
    expect(sut.decide({ ...query, agent_id: 'other' }).decision).toBe('allow');
    expect(sut.decide({ ...query, agent_id: 'other' }).decision).toBe('allow');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^burnrate_guard_decisions_total\{[^}]*decision="block"[^}]*\} 1$/m);
    expect(text).toMatch(/^burnrate_guard_decisions_total\{[^}]*decision="allow"[^}]*\} 2$/m);
    expect(text).toMatch(/^burnrate_guard_decision_seconds_count\{[^}]*\} 3$/m);
  });
});
