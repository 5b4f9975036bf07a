/** Every topic burnrate owns, with the Avro record its values carry. Names follow burnrate.<name>.v<major>. */
export interface TopicSpec {
  readonly name: string;
  /** Full name of the Avro record in schemas/ that values carry; null for raw-bytes topics (dead letters). */
  readonly valueSchema: string | null;
  readonly compacted: boolean;
  /** Retention in ms for non-compacted topics; undefined = broker default. */
  readonly retentionMs?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const BASE_TOPICS = {
  runsRaw: {
    name: 'burnrate.runs.raw.v1',
    valueSchema: 'dev.burnrate.v1.RunEvent',
    compacted: false,
    retentionMs: 7 * DAY_MS,
  },
  runsPriced: {
    name: 'burnrate.runs.priced.v1',
    valueSchema: 'dev.burnrate.v1.PricedRun',
    compacted: false,
    retentionMs: 7 * DAY_MS,
  },
  runsRejected: {
    name: 'burnrate.runs.rejected.v1',
    valueSchema: 'dev.burnrate.v1.RejectedRun',
    compacted: false,
    retentionMs: 30 * DAY_MS,
  },
  agentStats: {
    name: 'burnrate.agent-stats.v1',
    valueSchema: 'dev.burnrate.v1.AgentStats',
    compacted: false,
    retentionMs: 7 * DAY_MS,
  },
  teamSpend: {
    name: 'burnrate.team-spend.v1',
    valueSchema: 'dev.burnrate.v1.TeamSpend',
    compacted: false,
    retentionMs: 7 * DAY_MS,
  },
  anomalies: {
    name: 'burnrate.anomalies.v1',
    valueSchema: 'dev.burnrate.v1.Anomaly',
    compacted: false,
    retentionMs: 30 * DAY_MS,
  },
  alertDeliveries: {
    name: 'burnrate.alert-deliveries.v1',
    valueSchema: 'dev.burnrate.v1.AlertDelivery',
    compacted: false,
    retentionMs: 30 * DAY_MS,
  },
  agentControls: {
    name: 'burnrate.agent-controls.v1',
    valueSchema: 'dev.burnrate.v1.AgentControl',
    compacted: true,
  },
  otelSpans: {
    name: 'burnrate.otel-spans.v1',
    valueSchema: 'dev.burnrate.v1.OtelSpanBatch',
    compacted: false,
    retentionMs: 1 * DAY_MS,
  },
  deadLetter: {
    name: 'burnrate.dead-letter.v1',
    valueSchema: null,
    compacted: false,
    retentionMs: 30 * DAY_MS,
  },
} as const satisfies Record<string, TopicSpec>;

/**
 * A namespace appended to every topic name (`burnrate.runs.raw.v1.<ns>`), so that test runs or several
 * installations can share one cluster without reading each other's records. Empty in a normal deployment.
 */
export function namespaced<T extends Record<string, TopicSpec>>(topics: T, ns: string | undefined): T {
  if (!ns) return topics;
  return Object.fromEntries(
    Object.entries(topics).map(([k, t]) => [k, { ...t, name: `${t.name}.${ns}` }]),
  ) as T;
}

export const Topics = namespaced(BASE_TOPICS, process.env.BURNRATE_TOPIC_NAMESPACE);
export const topicsIn = (ns: string): typeof BASE_TOPICS => namespaced(BASE_TOPICS, ns);

/** Compacted changelog topic for a stateful service's store (Kafka Streams naming: <app>-<store>-changelog). */
export function changelogTopic(
  app: string,
  store: string,
  ns = process.env.BURNRATE_TOPIC_NAMESPACE,
): TopicSpec {
  return {
    name: `burnrate.${app}.${store}.changelog.v1${ns ? `.${ns}` : ''}`,
    valueSchema: null,
    compacted: true,
  };
}

/**
 * The detector's changelogs: its agents' incidents (partition p the state of agent-stats partition p) and its team
 * ledgers (partition p the state of team-spend partition p). `legacyLedgers` is where 0.2 and earlier kept every
 * ledger, partitioned by ledger key; `npm run migrate` carries its team ledgers over once
 * (scripts/carry-detector-state.ts).
 */
export function detectorTopics(ns = process.env.BURNRATE_TOPIC_NAMESPACE) {
  return {
    agents: changelogTopic('detector', 'agents', ns),
    teams: changelogTopic('detector', 'teams', ns),
    legacyLedgers: changelogTopic('detector', 'ledgers', ns),
  };
}

/** The partition key of every run-derived topic: one agent's runs in one partition, in order. */
export function agentKey(team: string | null | undefined, agentId: string): string {
  return team ? `${team}/${agentId}` : agentId;
}
