import type { AgentControl } from '@libs/contracts';

/** The key of an agent in the index: team and agent id cannot run together (a team never holds U+0000). */
const agentIndexKey = (team: string, agentId: string): string => `${team}\u0000${agentId}`;

/**
 * The agent-controls topic in memory: the latest control per record key (a tombstone removes it), indexed by
 * (team, agent) and, for controls on every agent of a team (a team budget), by team, so that the controls that may
 * apply to one call are found without a scan. Expiry is the decision's business: a passed control stays until its
 * tombstone or its replacement arrives.
 */
export class ControlView {
  private readonly byKey = new Map<string, AgentControl>();
  private readonly byAgent = new Map<string, Map<string, AgentControl>>();
  private readonly byTeam = new Map<string, Map<string, AgentControl>>();

  get size(): number {
    return this.byKey.size;
  }

  /** A record of the topic, in offset order: its control, or null (a tombstone). */
  apply(key: string, control: AgentControl | null): void {
    const previous = this.byKey.get(key);
    if (previous) this.unindex(key, previous);
    if (control === null) {
      this.byKey.delete(key);
      return;
    }
    this.byKey.set(key, control);
    const [index, indexKey] = this.slotOf(control);
    let bucket = index.get(indexKey);
    if (!bucket) index.set(indexKey, (bucket = new Map()));
    bucket.set(key, control);
  }

  get(key: string): AgentControl | undefined {
    return this.byKey.get(key);
  }

  /** The controls that name this agent of this team, and those on every agent of the team. */
  candidates(team: string, agentId: string): AgentControl[] {
    const out: AgentControl[] = [];
    this.byAgent.get(agentIndexKey(team, agentId))?.forEach((c) => out.push(c));
    this.byTeam.get(team)?.forEach((c) => out.push(c));
    return out;
  }

  /** Where a control is indexed: by its agent, or by its team when it is on every agent. */
  private slotOf(control: AgentControl): [Map<string, Map<string, AgentControl>>, string] {
    return control.agent_id === null
      ? [this.byTeam, control.team]
      : [this.byAgent, agentIndexKey(control.team, control.agent_id)];
  }

  private unindex(key: string, control: AgentControl): void {
    const [index, indexKey] = this.slotOf(control);
    const bucket = index.get(indexKey);
    if (!bucket) return;
    bucket.delete(key);
    if (bucket.size === 0) index.delete(indexKey);
  }
}
