import type { PricedRun, RunEvent } from '@libs/contracts';

/** Synthetic event-time traffic for scenario tests and the demo: priced runs with realistic noise, deterministic. */

const DAY = 86_400_000;

/** A small synthetic rate card in nano-units per token (opus is 12× haiku, as in the brief). */
export const RATES: Record<string, { input: number; output: number }> = {
  'claude-haiku': { input: 1_250, output: 6_250 },
  'claude-opus': { input: 15_000, output: 75_000 },
  'gpt-4o': { input: 2_500, output: 10_000 },
  'gpt-4o-mini': { input: 150, output: 600 },
};

export interface AgentProfile {
  team: string;
  agentId: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  runsPerDay: number;
  /** Volume on Saturday and Sunday relative to weekdays. */
  weekendFactor: number;
  successRate: number;
  /** Share of runs that carry a customer_id. */
  taggedShare: number;
  customers: string[];
  features: string[];
  /** Mean runs per session (the first run of a session is the parent of the others). */
  sessionSize: number;
  /** Steady growth: volume doubles every this many days from the first day generated (rhythm intact); none if absent. */
  doublingDays?: number;
  /** A new agent: it sends nothing before the day holding this instant; from the first day if absent. */
  activeFrom?: number;
}

export type Incident =
  | { kind: 'retry_loop'; agentId: string; onset: number; retriesPerSession: number; retryEveryMs: number }
  | {
      kind: 'prompt_creep';
      agentId: string;
      onset: number;
      stepEveryDays: number;
      stepFactor: number;
      steps: number;
    }
  | { kind: 'model_swap'; agentId: string; onset: number; to: string }
  | { kind: 'backfill_loop'; agentId: string; onset: number; everyMs: number; contextFactor: number }
  /** A promotion day: the volume of `days` days from the day holding `onset` is multiplied by `factor`. */
  | { kind: 'spike'; agentId: string; onset: number; days: number; factor: number };

export class Random {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
  lognormal(sigma: number): number {
    return Math.exp(sigma * this.normal() - (sigma * sigma) / 2);
  }
  poisson(lambda: number): number {
    if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
    const l = Math.exp(-lambda);
    let k = 0;
    for (let p = this.next(); p > l; p *= this.next()) k++;
    return k;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  /** Zipf-like: earlier entries much more likely. */
  skewed<T>(xs: readonly T[]): T {
    return xs[Math.min(xs.length - 1, Math.floor(xs.length * this.next() ** 2.5))];
  }
}

/** Dozens of ordinary agents across a few teams, each with its own volume, model and habits. */
export function agentFleet(count: number, seed: number): AgentProfile[] {
  const r = new Random(seed);
  const teams = ['support', 'research', 'growth', 'platform'];
  const models = Object.keys(RATES).filter((m) => m !== 'claude-opus');
  return Array.from({ length: count }, (_, i) => {
    const team = teams[i % teams.length];
    return {
      team,
      agentId: `agent-${String(i).padStart(2, '0')}`,
      model: r.pick(models),
      inputTokens: Math.round(800 + r.next() * 6000),
      outputTokens: Math.round(150 + r.next() * 900),
      runsPerDay: Math.round(20 * 20 ** r.next()),
      weekendFactor: 0.3 + r.next() * 0.7,
      successRate: 0.85 + r.next() * 0.14,
      taggedShare: 0.9 + r.next() * 0.1,
      customers: Array.from({ length: 3 + Math.floor(r.next() * 20) }, (_, c) => `cus_${i}_${c}`),
      features: Array.from({ length: 1 + Math.floor(r.next() * 4) }, (_, f) => `feature-${i}-${f}`),
      sessionSize: 1 + r.next() * 5,
    };
  });
}

interface DraftRun {
  agent: AgentProfile;
  at: number;
  model: string;
  inputTokens: number;
  outputTokens: number;
  status: RunEvent['status'];
  customerId: string | null;
  feature: string | null;
  sessionId: string;
  parentRunId: string | null;
  runId: string;
}

function priced(d: DraftRun): PricedRun {
  const rate = RATES[d.model] ?? null;
  const inputCost = rate ? d.inputTokens * rate.input : 0;
  const outputCost = rate ? d.outputTokens * rate.output : 0;
  const run: RunEvent = {
    run_id: d.runId,
    agent_id: d.agent.agentId,
    team: d.agent.team,
    model: d.model,
    provider: d.model.startsWith('claude') ? 'anthropic' : 'openai',
    input_tokens: d.inputTokens,
    output_tokens: d.outputTokens,
    cache_read_tokens: null,
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
    started_at: d.at - 2_000,
    finished_at: d.at,
    status: d.status,
    customer_id: d.customerId,
    feature: d.feature,
    cost_centre: null,
    session_id: d.sessionId,
    tool: null,
    parent_run_id: d.parentRunId,
    quality_score: null,
    tags: {},
    received_at: d.at + 50,
    source: 'kafka',
  };
  return {
    run,
    team: d.agent.team,
    provider: run.provider!,
    price_status: rate ? 'priced' : 'unpriced',
    currency: 'USD',
    uncached_input_tokens: d.inputTokens,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: d.outputTokens,
    input_cost_nanos: inputCost,
    cache_read_cost_nanos: 0,
    cache_write_cost_nanos: 0,
    output_cost_nanos: outputCost,
    total_cost_nanos: inputCost + outputCost,
    rate_card_id: null,
    rate_card_version: null,
    price_tier: null,
    priced_at: d.at + 60,
  };
}

function isWeekend(dayStart: number): boolean {
  const dow = new Date(dayStart).getUTCDay();
  return dow === 0 || dow === 6;
}

/** A moment of the day: mostly business hours, some around the clock. */
function timeOfDay(r: Random): number {
  return r.next() < 0.7 ? (8 + r.next() * 10) * 3_600_000 : r.next() * DAY;
}

export interface GenerateOptions {
  /** First day, UTC midnight. */
  start: number;
  days: number;
  agents: readonly AgentProfile[];
  incidents?: readonly Incident[];
  seed: number;
}

/** Priced runs day by day in event-time order (finished_at), the way the agent-keyed topic would deliver them. */
export function* generateRuns(opts: GenerateOptions): Generator<PricedRun> {
  const r = new Random(opts.seed);
  const incidents = opts.incidents ?? [];
  let serial = 0;
  const id = (prefix: string) => `${prefix}_${(serial++).toString(36)}`;
  for (let day = 0; day < opts.days; day++) {
    const dayStart = opts.start + day * DAY;
    const drafts: DraftRun[] = [];
    for (const agent of opts.agents) {
      if (agent.activeFrom !== undefined && dayStart + DAY <= agent.activeFrom) continue;
      const own = incidents.filter((i) => i.agentId === agent.agentId);
      let volume = agent.runsPerDay * (isWeekend(dayStart) ? agent.weekendFactor : 1) * r.lognormal(0.15);
      if (agent.doublingDays !== undefined) volume *= 2 ** (day / agent.doublingDays);
      for (const inc of own)
        if (inc.kind === 'spike' && dayStart + DAY > inc.onset && dayStart < inc.onset + inc.days * DAY)
          volume *= inc.factor;
      const sessions = r.poisson(volume / agent.sessionSize);
      for (let s = 0; s < sessions; s++) {
        const sessionId = id('ses');
        const size = 1 + r.poisson(agent.sessionSize - 1);
        let at = dayStart + timeOfDay(r);
        let parent: string | null = null;
        const customer = r.next() < agent.taggedShare ? r.skewed(agent.customers) : null;
        const feature = r.skewed(agent.features);
        for (let k = 0; k < size; k++) {
          const runId = id('run');
          let model = agent.model;
          let inputTokens = agent.inputTokens * r.lognormal(0.4);
          for (const inc of own) {
            if (inc.kind === 'model_swap' && at >= inc.onset) model = inc.to;
            if (inc.kind === 'prompt_creep' && at >= inc.onset) {
              const steps = Math.min(inc.steps, 1 + Math.floor((at - inc.onset) / (inc.stepEveryDays * DAY)));
              inputTokens *= inc.stepFactor ** steps;
            }
          }
          const draft: DraftRun = {
            agent,
            at,
            model,
            inputTokens: Math.round(inputTokens),
            outputTokens: Math.round(agent.outputTokens * r.lognormal(0.4)),
            status: r.next() < agent.successRate ? 'success' : r.next() < 0.7 ? 'error' : 'timeout',
            customerId: customer,
            feature,
            sessionId,
            parentRunId: parent,
            runId,
          };
          drafts.push(draft);
          const loop = own.find((i) => i.kind === 'retry_loop' && at >= i.onset);
          if (loop && loop.kind === 'retry_loop' && k === 1) {
            // The soft failure recurs and every retry re-sends the whole conversation so far.
            let context = draft.inputTokens;
            for (let retry = 0; retry < loop.retriesPerSession; retry++) {
              at += loop.retryEveryMs * r.lognormal(0.2);
              context += draft.outputTokens + agent.inputTokens * 0.5;
              drafts.push({
                ...draft,
                at,
                runId: id('run'),
                inputTokens: Math.round(context),
                status: retry === loop.retriesPerSession - 1 ? 'success' : 'error',
              });
            }
          }
          parent ??= runId;
          at += 20_000 * r.lognormal(0.5);
        }
      }
      for (const inc of own) {
        if (inc.kind !== 'backfill_loop') continue;
        const from = Math.max(inc.onset, dayStart);
        for (let at = from; at < dayStart + DAY; at += inc.everyMs * r.lognormal(0.1)) {
          drafts.push({
            agent,
            at,
            model: agent.model,
            inputTokens: Math.round(agent.inputTokens * inc.contextFactor * r.lognormal(0.2)),
            outputTokens: Math.round(agent.outputTokens * r.lognormal(0.4)),
            status: 'success',
            customerId: null,
            feature: 'backfill',
            sessionId: id('ses'),
            parentRunId: null,
            runId: id('run'),
          });
        }
      }
    }
    drafts.sort((a, b) => a.at - b.at);
    for (const d of drafts) if (d.at < dayStart + DAY) yield priced({ ...d, at: Math.round(d.at) });
  }
}
