/**
 * Upgrading from 0.2: the detector kept a ledger of every agent (its own copy of the per-agent figures, and its open
 * incidents) and team in one changelog (`burnrate.detector.ledgers.changelog.v1`), partitioned by ledger key, and
 * every replica read all of it. The figures are now the aggregator's alone (it has kept them all along); the detector
 * keeps each agent's open incidents in the partition of the agent's agent-stats (`…detector.agents.changelog…`) and
 * the team ledgers in the partition of the team's team-spend (`…detector.teams…`). `migrate` (the pre-upgrade hook)
 * calls this: when the old changelog has records and the new ones none, every agent's open incidents and every team
 * ledger are written to their new partitions in one Kafka transaction (all or nothing), so an incident open at the
 * upgrade still resolves where it paged and is not paged again. Afterwards the old topic can be deleted.
 */
import type { Admin, Kafka } from 'kafkajs';
import { Topics, detectorTopics, topicsIn } from '@libs/contracts';
import { partitionFor, readPartitions } from '@libs/kafka';
import type { JsonLogger } from '@libs/observability';

interface LegacyAgentLedger {
  team: string;
  agentId: string;
  tracked?: Record<string, unknown>;
}

async function partitionsOf(
  admin: Admin,
  existing: readonly string[],
  topic: string,
): Promise<{ count: number; records: bigint }> {
  if (!existing.includes(topic)) return { count: 0, records: 0n };
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
): Promise<{ agents: number; teams: number } | null> {
  const T = detectorTopics(ns);
  const topics = ns ? topicsIn(ns) : Topics;
  const admin = kafka.admin();
  await admin.connect();
  let legacy: { count: number; records: bigint };
  let agentsCount: number;
  let teamsCount: number;
  try {
    const existing = await admin.listTopics();
    legacy = await partitionsOf(admin, existing, T.legacyLedgers.name);
    if (legacy.records === 0n) return null;
    const [agents, teams, stats, spend] = await Promise.all(
      [T.agents.name, T.teams.name, topics.agentStats.name, topics.teamSpend.name].map((t) =>
        partitionsOf(admin, existing, t),
      ),
    );
    if (agents.records > 0n || teams.records > 0n) {
      log.info('detector state already carried over (its new changelogs have records); nothing to do', {
        legacy: T.legacyLedgers.name,
      });
      return null;
    }
    if (agents.count === 0 || teams.count === 0 || stats.count === 0 || spend.count === 0)
      throw new Error('the detector topics must be provisioned before its state is carried over');
    // the agents' changelog follows agent-stats partition for partition; the teams' follows team-spend
    agentsCount = stats.count;
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
  for (const [key, value] of latest) {
    if (value === null) continue;
    const colon = key.indexOf(':');
    const [kind, id] = [key.slice(0, colon), key.slice(colon + 1)];
    if (kind === 'agent') {
      // of a 0.2 agent ledger, only its open incidents are the detector's now
      const { team, agentId, tracked } = JSON.parse(value.toString()) as LegacyAgentLedger;
      if (tracked && Object.keys(tracked).length > 0)
        agents.push({
          key,
          value: Buffer.from(JSON.stringify({ team, agentId, tracked })),
          partition: partitionFor(id, agentsCount),
        });
    } else if (kind === 'team') teams.push({ key, value, partition: partitionFor(id, teamsCount) });
    // sessions and run ids: the aggregator's now
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
  const carried = { agents: agents.length, teams: teams.length };
  log.info('detector state carried over to its partition-aligned changelogs', {
    from: T.legacyLedgers.name,
    ...carried,
    next: `delete ${T.legacyLedgers.name} once the upgrade is done`,
  });
  return carried;
}
