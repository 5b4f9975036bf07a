import { agentKey, type AgentStats, type PricedRun } from '@libs/contracts';
import { AgentState, type AgentStateJson, type AggregationSettings } from './agent-state';

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
}

export const DEFAULT_OPTIONS: AggregatorOptions = {
  graceMs: 3 * HOUR,
  maxBaselineDays: 14,
  dedupeWindowMs: 15 * 60_000,
  dedupeMaxIds: 200_000,
};

/** A changelog record: compacted by key, `null` deletes. Keys are prefixed by kind so restore can tell them apart. */
export interface ChangelogEntry {
  key: string;
  value: string | null;
}

export interface SliceResult {
  stats: { key: string; value: AgentStats }[];
  changelog: ChangelogEntry[];
  counts: { accepted: number; duplicates: number; late: number; tooOld: number; evicted: number };
}

interface Chunk {
  seq: number;
  at: number;
  ids: string[];
}

const AGENT = 'a|';
const SEEN = 's|';
const META = 'm|';

/**
 * The state of one input partition: its stream time, its agents and the run ids recently counted. One agent's runs
 * are all in one partition (runs.priced is keyed by agent), so a partition's state is complete on its own and moves
 * between replicas whole, through its changelog partition (the same partition number).
 */
export class PartitionState {
  streamTime = 0;
  readonly agents = new Map<string, AgentState>();
  private readonly seen = new Map<string, number>();
  private chunks: Chunk[] = [];
  private nextSeq = 0;
  private seenCount = 0;

  constructor(
    readonly partition: number,
    private readonly options: AggregatorOptions,
    private readonly settingsOf: (team: string) => AggregationSettings,
  ) {}

  get daySlots(): number {
    return this.options.maxBaselineDays + 1;
  }

  get hourSlots(): number {
    return Math.ceil(this.options.graceMs / HOUR) + 2;
  }

  /** Applies one changelog record (restore). */
  restore(key: string, value: string | null): void {
    if (key.startsWith(AGENT)) {
      const id = key.slice(AGENT.length);
      if (value === null) this.agents.delete(id);
      else
        this.agents.set(
          id,
          AgentState.fromJSON(JSON.parse(value) as AgentStateJson, this.daySlots, this.hourSlots),
        );
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
    } else if (key.startsWith(META) && value !== null) {
      const meta = JSON.parse(value) as { streamTime: number; nextSeq: number };
      this.streamTime = meta.streamTime;
      this.nextSeq = meta.nextSeq;
    }
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
    const counts = { accepted: 0, duplicates: 0, late: 0, tooOld: 0, evicted: 0 };
    const changed = new Map<string, { late: boolean; lateAt: number }>();
    const accepted: string[] = [];
    const startDay = Math.floor(this.streamTime / (24 * HOUR));
    for (const p of runs) {
      const run = p.run;
      if (this.seen.has(run.run_id)) {
        counts.duplicates++;
        continue;
      }
      this.seen.set(run.run_id, this.nextSeq);
      accepted.push(run.run_id);
      const late = run.finished_at < this.streamTime - this.options.graceMs;
      if (late) counts.late++;
      this.streamTime = Math.max(this.streamTime, run.finished_at);
      const key = agentKey(p.team, run.agent_id);
      const settings = this.settingsOf(p.team);
      let agent = this.agents.get(key);
      if (!agent) {
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

    // Once a day of stream time, agents with nothing left inside the baseline leave memory (and the changelog).
    if (Math.floor(this.streamTime / (24 * HOUR)) > startDay) {
      for (const [key, agent] of this.agents) {
        if (changed.has(key)) continue;
        agent.closeIdleSessions(
          this.streamTime,
          this.settingsOf(agent.team).sessionIdleMs + this.options.graceMs,
        );
        if (agent.expired(this.streamTime, this.options.maxBaselineDays)) {
          this.agents.delete(key);
          changelog.push({ key: AGENT + key, value: null });
          counts.evicted++;
        }
      }
    }

    const stats: SliceResult['stats'] = [];
    for (const [key, c] of changed) {
      const agent = this.agents.get(key)!;
      const settings = this.settingsOf(agent.team);
      stats.push({
        key,
        value: agent.stats(this.streamTime, c.late, c.lateAt, {
          ...settings,
          baselineDays: Math.min(settings.baselineDays, this.options.maxBaselineDays),
        }),
      });
      changelog.push({ key: AGENT + key, value: JSON.stringify(agent) });
    }
    if (runs.length > 0)
      changelog.push({
        key: `${META}${this.partition}`,
        value: JSON.stringify({ streamTime: this.streamTime, nextSeq: this.nextSeq }),
      });
    return { stats, changelog, counts };
  }

  /** Runs finishing before this are older than any day kept (the baseline days plus today, and a day for zones). */
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
