/** One reason the guard blocks an agent, as GET /v1/guard gives it. */
export interface GuardReason {
  /** What set the block: a rule, a budget, a person (a manual block). */
  source: string;
  source_id: string | null;
  reason: string;
  /** ISO-8601, or null while the block stands until lifted. */
  until: string | null;
}

/** GET /v1/guard's answer. */
export interface GuardDecision {
  decision: 'allow' | 'block';
  reasons: GuardReason[];
  until: string | null;
}

export interface GuardOptions {
  /** How long a decision is reused per (agent, customer, tool), ms. Default 2000. */
  cacheMs?: number;
  /** Refuse completions when the guard cannot be asked (network error, 5xx). Default false: allow them. */
  failClosed?: boolean;
  /** Time allowed for one check, ms. Default 2000. */
  timeoutMs?: number;
}

/** A completion refused because burnrate's guard blocks its agent. */
export class AgentBlockedError extends Error {
  constructor(
    readonly agentId: string,
    readonly reasons: GuardReason[],
    readonly until: string | null,
    message: string = blockedMessage(agentId, reasons, until),
  ) {
    super(message);
    this.name = 'AgentBlockedError';
  }
}

/** A completion refused because the guard could not be asked and the client is fail-closed. */
export class GuardUnavailableError extends AgentBlockedError {
  constructor(agentId: string, cause: string) {
    super(
      agentId,
      [{ source: 'sdk', source_id: null, reason: `guard unavailable: ${cause}`, until: null }],
      null,
      `agent "${agentId}" refused: the burnrate guard could not be asked (${cause}) and guard.failClosed is set`,
    );
    this.name = 'GuardUnavailableError';
  }
}

function blockedMessage(agentId: string, reasons: GuardReason[], until: string | null): string {
  const why = reasons.length
    ? reasons.map((r) => `${r.source}${r.source_id ? ` ${r.source_id}` : ''}: ${r.reason}`).join('; ')
    : 'no reason given';
  return `agent "${agentId}" is blocked by burnrate (${why})${until ? ` until ${until}` : ''}`;
}

interface Unanswered {
  failure: string;
}

export interface GuardQuery {
  agentId: string;
  customerId: string | null;
  tool: string | null;
}

/** Asks `GET {apiUrl}/v1/guard` before each completion, caching each answer for `cacheMs`. */
export class GuardClient {
  private readonly cache = new Map<
    string,
    { expires: number; decision: Promise<GuardDecision | Unanswered> }
  >();
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private readonly failClosed: boolean;
  failures = 0;

  constructor(
    private readonly apiUrl: string,
    private readonly apiKey: string,
    options: GuardOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.cacheMs = options.cacheMs ?? 2000;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.failClosed = options.failClosed ?? false;
  }

  /** Resolves when the agent may call its model; rejects with AgentBlockedError when it may not. */
  async check(query: GuardQuery): Promise<void> {
    const key = JSON.stringify([query.agentId, query.customerId, query.tool]);
    const now = this.now();
    let entry = this.cache.get(key);
    if (!entry || entry.expires <= now) {
      // Concurrent completions of one agent share one request.
      entry = { expires: now + this.cacheMs, decision: this.ask(query) };
      this.cache.set(key, entry);
      if (this.cache.size > 10_000) this.evictExpired(now);
    }
    const decision = await entry.decision;
    if ('failure' in decision) {
      if (this.failClosed) throw new GuardUnavailableError(query.agentId, decision.failure);
      return;
    }
    if (decision.decision === 'block') {
      throw new AgentBlockedError(query.agentId, decision.reasons ?? [], decision.until ?? null);
    }
  }

  /** The decision, or why the guard could not answer (counted). */
  private async ask(query: GuardQuery): Promise<GuardDecision | Unanswered> {
    const params = new URLSearchParams({ agent_id: query.agentId });
    if (query.customerId !== null) params.set('customer_id', query.customerId);
    if (query.tool !== null) params.set('tool', query.tool);
    const url = `${this.apiUrl.replace(/\/+$/, '')}/v1/guard?${params}`;
    try {
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${this.apiKey}` },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!res.ok) throw new Error(`GET /v1/guard answered ${res.status}`);
      const body = (await res.json()) as GuardDecision;
      if (body.decision !== 'allow' && body.decision !== 'block') {
        throw new Error('GET /v1/guard answered without a decision');
      }
      return body;
    } catch (err) {
      this.failures++;
      return { failure: (err as Error).message };
    }
  }

  private evictExpired(now: number): void {
    for (const [key, entry] of this.cache) if (entry.expires <= now) this.cache.delete(key);
  }
}
