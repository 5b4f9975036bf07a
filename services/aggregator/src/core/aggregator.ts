import {
  agentKey,
  type AgentStats,
  type PricedRun,
  type TeamSpend,
  type TeamSpendEntry,
} from '@libs/contracts';
import { AgentState, type AgentStateJson, type AggregationSettings, type SessionTuple } from './agent-state';
import { MemoryColdAgents, type ColdAgents } from './cold-agents';

const HOUR = 3_600_000;

export interface AggregatorOptions {
  /** Runs finishing more than this before the partition's stream time are late: counted, marked, never paged on. */
  graceMs: number;
  /** Longest baseline a team may ask for (days); the ring keeps one more, today. */
  maxBaselineDays: number;
  /** Run ids are remembered this long in stream time, to drop duplicates... */
  dedupeWindowMs: number;
  /** ...but at most this many per partition (oldest forgotten first). */
  dedupeMaxIds: number;
  /**
   * Agents without a run for this long (stream time) leave memory for the partition's cold store; their next run
   * brings them back. Infinity keeps every agent in memory.
   */
  idleUnloadMs: number;
  /** More agents than this in memory and the longest idle leave it, down to 90% of it, whatever their idle time. */
  maxAgentsInMemory: number;
}

export const DEFAULT_OPTIONS: AggregatorOptions = {
  graceMs: 3 * HOUR,
  maxBaselineDays: 14,
  dedupeWindowMs: 15 * 60_000,
  dedupeMaxIds: 200_000,
  idleUnloadMs: 24 * HOUR,
  maxAgentsInMemory: 100_000,
};

/** A changelog record: compacted by key, `null` deletes. Keys are prefixed by kind so restore can tell them apart. */
export interface ChangelogEntry {
  key: string;
  value: string | null;
}

export interface SliceResult {
  stats: { key: string; value: AgentStats }[];
  /** What each team's runs in the slice cost, by day and customer (to burnrate.team-spend.v1, keyed by team). */
  teamSpend: TeamSpend[];
  changelog: ChangelogEntry[];
  counts: {
    accepted: number;
    duplicates: number;
    late: number;
    tooOld: number;
    evicted: number;
    unloaded: number;
    revived: number;
  };
}

interface Chunk {
  seq: number;
  at: number;
  ids: string[];
}

/** An agent's changelog records: its own, and one for each session it opened, changed or closed since the last. */
function records(key: string, agent: AgentState): ChangelogEntry[] {
  const { agent: value, sessions } = agent.changelogOf();
  return [{ key: AGENT + key, value }, ...sessions.map(([s, v]) => ({ key: sessionKey(key, s), value: v }))];
}

/** An agent gone from the changelog: its record and those of its open sessions deleted. */
function tombstones(key: string, sessions: readonly string[]): ChangelogEntry[] {
  return [
    { key: AGENT + key, value: null },
    ...sessions.map((s) => ({ key: sessionKey(key, s), value: null })),
  ];
}

/** The agent's JSON with the restored session records laid over the sessions it carries (none, in the new form). */
function withSessions(state: AgentStateJson, records: Map<string, SessionTuple | null>): AgentStateJson {
  const sessions = new Map((state.sessions ?? []).map(([k, ...rest]) => [k, rest as SessionTuple]));
  for (const [k, tuple] of records) {
    if (tuple === null) sessions.delete(k);
    else sessions.set(k, tuple);
  }
  const { sessions: _, ...rest } = state;
  return sessions.size > 0 ? { ...rest, sessions: [...sessions].map(([k, t]) => [k, ...t]) } : rest;
}

/** Characters of agent state a restore holds before writing them to the cold store (bounds its memory). */
const RESTORE_BUFFER_CHARS = 64 * 1024 * 1024;

const AGENT = 'a|';
const SEEN = 's|';
const META = 'm|';
/** An agent's open session: `x|` + JSON [agent key, session key] -> JSON SessionTuple, null once closed. */
const SESSION = 'x|';
const sessionKey = (agent: string, session: string) => SESSION + JSON.stringify([agent, session]);

/**
 * The state of one input partition: its stream time, its agents and the run ids recently counted. One agent's runs
 * are all in one partition (runs.priced is keyed by agent), so a partition's state is complete on its own and moves
 * between replicas whole, through its changelog partition (the same partition number).
 *
 * Memory holds the agents that are active; idle ones wait in `cold` (their changelog form, on local disk in the
 * service) and come back with their next run, unchanged. A restore puts every agent there first, so assigning a
 * partition with a million quiet agents does not need a million agents' worth of memory.
 */
export class PartitionState {
  streamTime = 0;
  /** Agents' latest changelog values while a restore runs, written to the cold store in one pass at its end. */
  private readonly restoring = new Map<string, string | null>();
  /** Session records read by a restore, by agent: laid over the agents' records when the restore ends. */
  private readonly restoringSessions = new Map<string, Map<string, SessionTuple | null>>();
  private restoringBytes = 0;
  /** Stream time of the last hourly sweep (sessions closed, idle agents out of memory). */
  private sweptAt = 0;
  /** The agents in memory. */
  readonly agents = new Map<string, AgentState>();
  private readonly seen = new Map<string, number>();
  private chunks: Chunk[] = [];
  private nextSeq = 0;
  private seenCount = 0;

  constructor(
    readonly partition: number,
    private readonly options: AggregatorOptions,
    /** The team's settings, or an agent's where it has its own (per-agent overrides). */
    private readonly settingsOf: (team: string, agentId?: string) => AggregationSettings,
    readonly cold: ColdAgents = new MemoryColdAgents(),
  ) {}

  get daySlots(): number {
    return this.options.maxBaselineDays + 1;
  }

  get hourSlots(): number {
    return Math.ceil(this.options.graceMs / HOUR) + 2;
  }

  /**
   * The records that make the detector judge the teams' current windows again, after their settings changed: a stats
   * record of each of their agents in memory as of now (the day windows only: no minutes, parents, sessions or
   * unpriced models, whose windows were judged with their runs and could otherwise page twice), and an empty spend
   * entry per team at its latest run, on which the team and customer budgets are evaluated (`customers`: the subjects
   * of the team's customer budgets, each given an entry). State is not changed: nothing goes to the changelog.
   */
  reevaluate(
    teams: ReadonlySet<string>,
    customers: (team: string) => string[],
  ): { stats: SliceResult['stats']; teamSpend: TeamSpend[] } {
    const stats: SliceResult['stats'] = [];
    const latest = new Map<string, { at: number; currency: string }>();
    if (teams.size === 0) return { stats, teamSpend: [] };
    for (const [key, agent] of this.agents) {
      if (!teams.has(agent.team)) continue;
      const settings = this.settingsOf(agent.team, agent.agentId);
      const s = agent.stats(this.streamTime, false, 0, {
        ...settings,
        baselineDays: Math.min(settings.baselineDays, this.options.maxBaselineDays),
      });
      const sig = s.signals!;
      stats.push({
        key,
        value: {
          ...s,
          sessions: { ...s.sessions, changed: [] },
          // as of the agent's latest run (no run triggers it)
          signals: {
            ...sig,
            last_run_at: agent.clock,
            last_run_id: null,
            minutes: [],
            parents: [],
            unpriced_models: [],
          },
        },
      });
      const seen = latest.get(agent.team);
      if (!seen || agent.clock > seen.at) latest.set(agent.team, { at: agent.clock, currency: s.currency });
    }
    const teamSpend: TeamSpend[] = [...latest].map(([team, l]) => ({
      team,
      currency: l.currency,
      entries: [null, ...customers(team)].map((customer) => ({
        at: l.at,
        customer_id: customer,
        spend_nanos: 0,
        run_id: '', // no run: the detector records no trigger run
        late: false,
      })),
    }));
    return { stats, teamSpend };
  }

  /** Applies one changelog record (restore). */
  restore(key: string, value: string | null): void {
    if (key.startsWith(AGENT)) {
      // The changelog holds many versions of a busy agent until compaction: only the last reaches the cold store.
      const id = key.slice(AGENT.length);
      this.agents.delete(id);
      const before = this.restoring.get(id);
      this.restoringBytes += (value?.length ?? 0) - (before?.length ?? 0);
      this.restoring.set(id, value);
      if (this.restoringBytes > RESTORE_BUFFER_CHARS) this.flushRestored();
    } else if (key.startsWith(SEEN)) {
      const seq = Number(key.slice(key.lastIndexOf('|') + 1));
      const existing = this.chunks.findIndex((c) => c.seq === seq);
      if (existing >= 0) this.dropChunk(existing);
      if (value !== null) {
        const chunk = JSON.parse(value) as Chunk;
        this.chunks.push(chunk);
        this.chunks.sort((a, b) => a.seq - b.seq);
        for (const id of chunk.ids) this.seen.set(id, chunk.seq);
        this.seenCount += chunk.ids.length;
      }
    } else if (key.startsWith(SESSION)) {
      const [agent, session] = JSON.parse(key.slice(SESSION.length)) as [string, string];
      let sessions = this.restoringSessions.get(agent);
      if (!sessions) this.restoringSessions.set(agent, (sessions = new Map()));
      sessions.set(session, value === null ? null : (JSON.parse(value) as SessionTuple));
    } else if (key.startsWith(META) && value !== null) {
      const meta = JSON.parse(value) as { streamTime: number; nextSeq: number; sweptAt?: number };
      this.streamTime = meta.streamTime;
      this.nextSeq = meta.nextSeq;
      this.sweptAt = meta.sweptAt ?? 0;
    }
  }

  /** Ends a restore: the agents restored go to the cold store with their sessions (also done by the next `process`). */
  finishRestore(): void {
    const done = this.flushRestored();
    for (const [id, sessions] of this.restoringSessions) {
      if (done.has(id)) continue;
      // agents that went to the cold store earlier in the restore; sessions of agents the changelog deleted are dropped
      const json = this.cold.take(id);
      if (json === undefined) continue;
      const state = withSessions(JSON.parse(json) as AgentStateJson, sessions);
      this.cold.put(id, JSON.stringify(state), AgentState.newestEndOf(state));
    }
    this.restoringSessions.clear();
  }

  /**
   * Moves the agents restored so far to the cold store, each with the sessions restored so far (kept until the end: a
   * later record of the agent, without sessions, needs them again). Returns the agents it wrote.
   */
  private flushRestored(): Set<string> {
    const done = new Set<string>();
    for (const [id, value] of this.restoring) {
      if (value === null) {
        this.cold.delete(id);
        continue;
      }
      done.add(id);
      const sessions = this.restoringSessions.get(id);
      const state = JSON.parse(value) as AgentStateJson;
      this.cold.put(
        id,
        sessions ? JSON.stringify(withSessions(state, sessions)) : value,
        AgentState.newestEndOf(state),
      );
    }
    this.restoring.clear();
    this.restoringBytes = 0;
    return done;
  }

  private dropChunk(index: number): Chunk {
    const [chunk] = this.chunks.splice(index, 1);
    for (const id of chunk.ids) if (this.seen.get(id) === chunk.seq) this.seen.delete(id);
    this.seenCount -= chunk.ids.length;
    return chunk;
  }

  /**
   * One committed slice of runs.priced: every new run updates its agent; duplicates (a run_id already counted within
   * the dedupe window) are dropped. Returns one coalesced stats record per changed agent and the changelog records
   * that make the new state durable with the slice's offsets.
   */
  process(runs: readonly PricedRun[]): SliceResult {
    if (this.restoring.size > 0 || this.restoringSessions.size > 0) this.finishRestore();
    const counts = { accepted: 0, duplicates: 0, late: 0, tooOld: 0, evicted: 0, unloaded: 0, revived: 0 };
    const changed = new Map<string, { late: boolean; lateAt: number }>();
    const accepted: string[] = [];
    const startHour = Math.floor(this.streamTime / HOUR);
    const spend = new Map<string, TeamSpendEntry & { team: string; currency: string }>();
    for (const p of runs) {
      const run = p.run;
      // a run_id is the team's own: another team's run with the same id is another run
      const id = `${p.team}\u0000${run.run_id}`;
      if (this.seen.has(id)) {
        counts.duplicates++;
        continue;
      }
      this.seen.set(id, this.nextSeq);
      accepted.push(id);
      const settings = this.settingsOf(p.team, run.agent_id);
      // the team's late-data grace, within the aggregator's (which bounds the hours it keeps open)
      const late = run.finished_at < this.streamTime - Math.min(this.options.graceMs, settings.lateAfterMs);
      if (late) counts.late++;
      this.streamTime = Math.max(this.streamTime, run.finished_at);
      const key = agentKey(p.team, run.agent_id);
      let agent = this.agents.get(key);
      if (!agent) {
        agent = this.revive(key);
        if (agent) counts.revived++;
        else
          agent = new AgentState(
            p.team,
            run.agent_id,
            p.currency,
            settings.timezone,
            this.daySlots,
            this.hourSlots,
          );
        this.agents.set(key, agent);
      }
      // the team's spend by the day of the run in the agent's time zone (the team's; the agent's day is kept, cheap)
      addTeamSpend(spend, p, late, agent.dayOf(run.finished_at).start);
      if (!agent.apply(p, late, settings, this.options.graceMs, this.horizon)) {
        counts.tooOld++;
        continue;
      }
      counts.accepted++;
      const c = changed.get(key);
      if (!c) changed.set(key, { late, lateAt: run.finished_at });
      else if (c.late && late) c.lateAt = Math.max(c.lateAt, run.finished_at);
      else c.late = false;
    }

    const changelog: ChangelogEntry[] = [];
    if (accepted.length > 0) {
      const chunk: Chunk = { seq: this.nextSeq++, at: this.streamTime, ids: accepted };
      this.chunks.push(chunk);
      this.seenCount += accepted.length;
      changelog.push({ key: this.seenKey(chunk.seq), value: JSON.stringify(chunk) });
    }
    while (
      this.chunks.length > 1 &&
      (this.chunks[0].at < this.streamTime - this.options.dedupeWindowMs ||
        this.seenCount - this.chunks[0].ids.length >= this.options.dedupeMaxIds)
    ) {
      const dropped = this.dropChunk(0);
      changelog.push({ key: this.seenKey(dropped.seq), value: null });
    }

    // Once an hour of stream time: idle sessions close, agents with nothing left inside the baseline are forgotten
    // (here and in the changelog) and idle ones leave memory for the cold store.
    if (Math.floor(this.streamTime / HOUR) > startHour) {
      this.sweptAt = this.streamTime;
      const unloadBefore = this.streamTime - this.options.idleUnloadMs;
      for (const [key, agent] of this.agents) {
        agent.sweptAt = this.sweptAt;
        // an agent with runs in the slice closed its idle sessions with them
        if (changed.has(key)) continue;
        agent.closeIdleSessions(this.streamTime, this.sessionCloseMs(agent.team), false);
        if (agent.expired(this.streamTime, this.options.maxBaselineDays)) {
          this.agents.delete(key);
          changelog.push(...tombstones(key, agent.sessionsInChangelog()));
          counts.evicted++;
          continue;
        }
        // Sessions closed here are written with the agent's next records (with its closed costs, which then count them).
        // Until then a restore finds them open, and revive() closes them as of this sweep, as here.
        if (agent.clock < unloadBefore) {
          this.unload(key, agent);
          counts.unloaded++;
        }
      }
      for (const key of this.cold.endedBefore(this.horizon)) {
        const json = this.cold.take(key);
        const sessions = json ? AgentState.sessionsInChangelogOf(JSON.parse(json) as AgentStateJson) : [];
        changelog.push(...tombstones(key, sessions));
        counts.evicted++;
      }
    }

    if (this.agents.size > this.options.maxAgentsInMemory) {
      const idle = [...this.agents]
        .filter(([key]) => !changed.has(key))
        .sort((a, b) => a[1].clock - b[1].clock);
      const excess = this.agents.size - Math.floor(this.options.maxAgentsInMemory * 0.9);
      for (const [key, agent] of idle.slice(0, excess)) this.unload(key, agent);
      counts.unloaded += Math.min(excess, idle.length);
    }

    const stats: SliceResult['stats'] = [];
    for (const [key, c] of changed) {
      const agent = this.agents.get(key)!;
      const settings = this.settingsOf(agent.team, agent.agentId);
      stats.push({
        key,
        value: agent.stats(this.streamTime, c.late, c.lateAt, {
          ...settings,
          baselineDays: Math.min(settings.baselineDays, this.options.maxBaselineDays),
        }),
      });
      changelog.push(...records(key, agent));
    }
    if (runs.length > 0)
      changelog.push({
        key: `${META}${this.partition}`,
        value: JSON.stringify({ streamTime: this.streamTime, nextSeq: this.nextSeq, sweptAt: this.sweptAt }),
      });
    return { stats, teamSpend: teamSpendOf(spend), changelog, counts };
  }

  /** An agent out of memory, in its JSON form (with the sessions its next changelog records are to write). */
  private unload(key: string, agent: AgentState): void {
    this.cold.put(key, JSON.stringify(agent), agent.days.newestEnd());
    this.agents.delete(key);
  }

  /**
   * An agent back from the cold store (left memory, or restored), as it would be had it stayed in memory: what the
   * sweeps it missed would have closed (sessions idle at the last sweep), closed now. Its sweep time says which it
   * missed: an agent restored from a record written before a sweep that closed its sessions (closings go with the
   * agent's next records) missed that sweep here, and closes them now, as it did then.
   */
  private revive(key: string): AgentState | undefined {
    const json = this.cold.take(key);
    if (json === undefined) return undefined;
    const agent = AgentState.fromJSON(JSON.parse(json) as AgentStateJson, this.daySlots, this.hourSlots);
    if (agent.sweptAt < this.sweptAt)
      agent.closeIdleSessions(this.sweptAt, this.sessionCloseMs(agent.team), false);
    agent.sweptAt = this.sweptAt;
    return agent;
  }

  /** A session closes after this much stream time without a run (plus the grace, so no on-time run reopens it). */
  private sessionCloseMs(team: string): number {
    return this.settingsOf(team).sessionIdleMs + this.options.graceMs;
  }

  /**
   * Runs finishing before this are older than any day kept (the baseline days plus today, and a day for zones); an
   * agent whose newest day ended before it has nothing left inside any baseline (see AgentState.expired).
   */
  private get horizon(): number {
    return this.streamTime - (this.options.maxBaselineDays + 2) * 24 * HOUR;
  }

  private seenKey(seq: number): string {
    return `${SEEN}${this.partition}|${seq}`;
  }

  /** Run ids currently remembered for dedupe. */
  get rememberedIds(): number {
    return this.seenCount;
  }
}

/** A run's cost, summed with the slice's other runs of its team, day and customer, for the team's budgets. */
function addTeamSpend(
  spend: Map<string, TeamSpendEntry & { team: string; currency: string }>,
  p: PricedRun,
  late: boolean,
  dayStart: number,
): void {
  const run = p.run;
  const cost = p.price_status === 'priced' ? p.total_cost_nanos : 0;
  const key = `${p.team}\u0000${dayStart}\u0000${run.customer_id ?? ''}`;
  const e = spend.get(key);
  if (!e)
    spend.set(key, {
      team: p.team,
      currency: p.currency,
      at: run.finished_at,
      customer_id: run.customer_id ?? null,
      spend_nanos: cost,
      run_id: run.run_id,
      late,
    });
  else {
    e.spend_nanos += cost;
    e.late &&= late;
    if (run.finished_at >= e.at) [e.at, e.run_id] = [run.finished_at, run.run_id];
  }
}

function teamSpendOf(spend: Map<string, TeamSpendEntry & { team: string; currency: string }>): TeamSpend[] {
  const byTeam = new Map<string, TeamSpend>();
  for (const { team, currency, ...entry } of spend.values()) {
    let t = byTeam.get(team);
    if (!t) byTeam.set(team, (t = { team, currency, entries: [] }));
    t.entries.push(entry);
  }
  for (const t of byTeam.values()) t.entries.sort((x, y) => x.at - y.at);
  return [...byTeam.values()];
}
