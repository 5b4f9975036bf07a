/**
 * Upgrading from 0.2: the detector kept every ledger in one changelog (`burnrate.detector.ledgers.changelog.v1`),
 * partitioned by ledger key, and every replica read all of it. It now keeps an agent's ledger in the partition of the
 * agent's runs (`…detector.agents.changelog…`) and team budgets in the partition of the team (`…detector.teams…`).
 * `migrate` (the pre-upgrade hook) calls this: when the old changelog has records and the new one has none, the latest
 * record of every agent, open session and team is written to its new partition, in one Kafka transaction (all or
 * nothing), so the upgraded detector starts with its 60 days of history and open incidents instead of learning again.
 * Run ids kept for dedupe are not carried (they matter for minutes). Afterwards the old topic can be deleted.
 */
import type { Admin, Kafka } from 'kafkajs';
import { Topics, detectorTopics, topicsIn } from '@libs/contracts';
import { murmur2, readPartitions } from '@libs/kafka';
import type { JsonLogger } from '@libs/observability';

const partitionOf = (key: string, count: number) => (murmur2(Buffer.from(key)) & 0x7fffffff) % count;

async function partitionsOf(admin: Admin, topic: string): Promise<{ count: number; records: bigint }> {
  if (!(await admin.listTopics()).includes(topic)) return { count: 0, records: 0n };
  const offsets = await admin.fetchTopicOffsets(topic);
  return {
    count: offsets.length,
    records: offsets.reduce((n, o) => n + BigInt(o.high) - BigInt(o.low), 0n),
  };
}

export async function carryDetectorState(
  kafka: Kafka,
  log: JsonLogger,
  ns?: string,
): Promise<{ agents: number; sessions: number; teams: number } | null> {
  const T = detectorTopics(ns);
  const runsPriced = (ns ? topicsIn(ns) : Topics).runsPriced.name;
  const admin = kafka.admin();
  await admin.connect();
  let legacy: { count: number; records: bigint };
  let agentsCount: number;
  let teamsCount: number;
  try {
    legacy = await partitionsOf(admin, T.legacyLedgers.name);
    if (legacy.records === 0n) return null;
    const [agents, teams, priced, spend] = await Promise.all(
      [T.agents.name, T.teams.name, runsPriced, T.teamSpend.name].map((t) => partitionsOf(admin, t)),
    );
    if (agents.records > 0n || teams.records > 0n) {
      log.info('detector state already carried over (its new changelogs have records); nothing to do', {
        legacy: T.legacyLedgers.name,
      });
      return null;
    }
    if (agents.count === 0 || teams.count === 0 || priced.count === 0 || spend.count === 0)
      throw new Error('the detector topics must be provisioned before its state is carried over');
    // the agents' changelog follows runs.priced partition for partition; the teams' follows team-spend
    agentsCount = priced.count;
    teamsCount = spend.count;
  } finally {
    await admin.disconnect();
  }

  const latest = new Map<string, Buffer | null>();
  const all = Array.from({ length: legacy.count }, (_, p) => p);
  await readPartitions(kafka, T.legacyLedgers.name, all, (_p, m) => {
    const key = m.key?.toString();
    if (key) latest.set(key, m.value);
  });

  const agents: { key: string; value: Buffer; partition: number }[] = [];
  const teams: { key: string; value: Buffer; partition: number }[] = [];
  let sessions = 0;
  for (const [key, value] of latest) {
    if (value === null) continue;
    const colon = key.indexOf(':');
    const [kind, id] = [key.slice(0, colon), key.slice(colon + 1)];
    if (kind === 'agent') agents.push({ key, value, partition: partitionOf(id, agentsCount) });
    else if (kind === 'session') {
      const [agent] = JSON.parse(id) as [string, string];
      agents.push({ key, value, partition: partitionOf(agent, agentsCount) });
      sessions++;
    } else if (kind === 'team') teams.push({ key, value, partition: partitionOf(id, teamsCount) });
  }

  const producer = kafka.producer({
    transactionalId: `burnrate-carry-detector-state${ns ? `-${ns}` : ''}`,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    const tx = await producer.transaction();
    try {
      for (const [topic, records] of [
        [T.agents.name, agents],
        [T.teams.name, teams],
      ] as const)
        for (let i = 0; i < records.length; i += 2000)
          await tx.send({ topic, acks: -1, messages: records.slice(i, i + 2000) });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
  } finally {
    await producer.disconnect();
  }
  const carried = { agents: agents.length - sessions, sessions, teams: teams.length };
  log.info('detector state carried over to its partition-aligned changelogs', {
    from: T.legacyLedgers.name,
    ...carried,
    next: `delete ${T.legacyLedgers.name} once the upgrade is done`,
  });
  return carried;
}
