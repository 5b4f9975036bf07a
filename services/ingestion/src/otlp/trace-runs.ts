import type { OtelSpan } from './genai-span';

/** A run as POST /v1/runs takes it (RunsService validates and publishes it). */
export interface RunJson {
  run_id: string;
  agent_id: string;
  model: string;
  provider: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  started_at: string;
  finished_at: string;
  status: 'success' | 'error';
  customer_id: string | null;
  feature: string | null;
  cost_centre: string | null;
  session_id: string | null;
  tool: string | null;
  parent_run_id: string | null;
  source: 'otel';
}

export interface TraceRuns {
  runs: RunJson[];
  /** Runs whose chain of ancestors stops at a span that never arrived. */
  orphans: number;
}

/** The model and provider of an agent-level run: priced at 0, never unpriced. */
export const AGENT_RUN_MODEL = 'agent';
export const AGENT_RUN_PROVIDER = 'burnrate';
/** An agent's name when neither its span, an agent around it nor its resource's service.name gives one. */
export const UNKNOWN_AGENT = 'unknown';

/** Deepest ancestry followed: far beyond any real trace, and a bound on a malicious one. */
const MAX_DEPTH = 1000;

export const runIdOf = (traceId: string, spanId: string): string => `${traceId}-${spanId}`;

/**
 * The runs of a trace's spans, as far as they arrived: a model span is a run with its tokens, an agent span a
 * zero-token agent-level run. Every run's ancestry is followed through whatever spans lie between (HTTP, database,
 * ...): agent_id is the span's own gen_ai.agent.name or its nearest agent ancestor's (else its resource's service.name),
 * parent_run_id the nearest ancestor that is itself a run, tool the gen_ai.tool.name of the nearest execute_tool span
 * between it and its agent, and session_id, customer_id, feature and cost_centre the span's own or its nearest
 * ancestor's, else its resource's. A chain broken by a span that never arrived ends there: the run keeps what lies
 * below the gap (an orphan).
 */
export function traceRuns(traceId: string, spans: readonly OtelSpan[]): TraceRuns {
  const byId = new Map<string, OtelSpan>();
  for (const s of spans) byId.set(s.span_id, s);
  const runs: RunJson[] = [];
  let orphans = 0;
  for (const span of byId.values()) {
    if (span.kind !== 'model' && span.kind !== 'agent') continue;
    const { chain, broken } = ancestors(span, byId);
    if (broken) orphans++;
    const nearestAgent = chain.find((s) => s.kind === 'agent');
    const nearestRun = chain.find((s) => s.kind === 'agent' || s.kind === 'model');
    const untilAgent = nearestAgent ? chain.slice(0, chain.indexOf(nearestAgent)) : chain;
    const inherited = (
      field: 'conversation_id' | 'customer_id' | 'feature' | 'cost_centre',
    ): string | null => {
      const own = [span, ...chain].find((s) => s[field] !== null)?.[field] ?? null;
      if (own !== null || field === 'conversation_id') return own;
      const resourceField = `resource_${field}` as const;
      return [span, ...chain].find((s) => s[resourceField] !== null)?.[resourceField] ?? null;
    };
    const isAgent = span.kind === 'agent';
    runs.push({
      run_id: runIdOf(traceId, span.span_id),
      agent_id: agentIdOf(span, chain),
      model: isAgent ? AGENT_RUN_MODEL : span.model!,
      provider: isAgent ? AGENT_RUN_PROVIDER : span.provider,
      input_tokens: isAgent ? 0 : (span.input_tokens ?? 0),
      output_tokens: isAgent ? 0 : (span.output_tokens ?? 0),
      cache_read_tokens: isAgent ? null : span.cache_read_tokens,
      cache_write_tokens: isAgent ? null : span.cache_write_tokens,
      started_at: iso(span.start_time),
      finished_at: iso(span.end_time),
      status: span.error ? 'error' : 'success',
      customer_id: inherited('customer_id'),
      feature: inherited('feature'),
      cost_centre: inherited('cost_centre'),
      session_id: inherited('conversation_id'),
      tool: untilAgent.find((s) => s.kind === 'tool' && s.tool_name !== null)?.tool_name ?? null,
      parent_run_id: nearestRun ? runIdOf(traceId, nearestRun.span_id) : null,
      source: 'otel',
    });
  }
  return { runs, orphans };
}

/** The span's ancestors, nearest first, as far as they arrived; `broken` when a parent named is missing. */
function ancestors(
  span: OtelSpan,
  byId: ReadonlyMap<string, OtelSpan>,
): { chain: OtelSpan[]; broken: boolean } {
  const chain: OtelSpan[] = [];
  const seen = new Set<string>([span.span_id]);
  let parentId = span.parent_span_id;
  while (parentId !== null && chain.length < MAX_DEPTH) {
    const parent = byId.get(parentId);
    if (!parent) return { chain, broken: true };
    if (seen.has(parent.span_id)) break; // a cycle: no trace has one, a hostile one may
    seen.add(parent.span_id);
    chain.push(parent);
    parentId = parent.parent_span_id;
  }
  return { chain, broken: false };
}

function agentIdOf(span: OtelSpan, chain: readonly OtelSpan[]): string {
  if (span.agent_name !== null) return span.agent_name;
  // the nearest agent ancestor that has a name (an unnamed agent span takes its own agent's, in turn)
  for (const s of chain) if (s.kind === 'agent' && s.agent_name !== null) return s.agent_name;
  return span.service_name ?? UNKNOWN_AGENT;
}

const iso = (ms: number): string => new Date(ms).toISOString();
