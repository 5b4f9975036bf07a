import { RUN_LIMITS, hasUnsafeCharacter } from '@libs/contracts';
import type { AttributeValue, OtlpSpan } from './otlp-decode';

/** What a span becomes: a model run, an agent-level run, the tool of the runs inside it, or ancestry only. */
export type SpanKind = 'model' | 'agent' | 'tool' | 'other';
export const SPAN_KINDS: readonly SpanKind[] = ['model', 'agent', 'tool', 'other'];

/** One span on burnrate.otel-spans.v1 (schemas/otel-span.avsc, OtelSpan). */
export interface OtelSpan {
  span_id: string;
  parent_span_id: string | null;
  kind: SpanKind;
  start_time: number;
  end_time: number;
  error: boolean;
  service_name: string | null;
  agent_name: string | null;
  tool_name: string | null;
  model: string | null;
  provider: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  conversation_id: string | null;
  customer_id: string | null;
  feature: string | null;
  cost_centre: string | null;
  resource_customer_id: string | null;
  resource_feature: string | null;
  resource_cost_centre: string | null;
}

/** A trace's spans from one request (schemas/otel-span.avsc, OtelSpanBatch). */
export interface OtelSpanBatch {
  team: string;
  trace_id: string;
  received_at: number;
  spans: OtelSpan[];
}

export type SpanReading = { ok: true; span: OtelSpan } | { ok: false; reason: string; span: OtelSpan | null };

const MODEL_OPERATIONS = new Set(['chat', 'text_completion', 'generate_content']);
const AGENT_OPERATIONS = new Set(['invoke_agent', 'create_agent']);
const TOOL_OPERATION = 'execute_tool';

/** The GenAI semantic conventions' names first, then the older ones instrumentations still emit. */
const ATTR = {
  operation: ['gen_ai.operation.name'],
  agentName: ['gen_ai.agent.name'],
  toolName: ['gen_ai.tool.name'],
  model: ['gen_ai.response.model', 'gen_ai.request.model'],
  provider: ['gen_ai.provider.name', 'gen_ai.system'],
  inputTokens: ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens'],
  outputTokens: ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens'],
  cacheRead: ['gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens'],
  cacheWrite: ['gen_ai.usage.cache_creation.input_tokens', 'gen_ai.usage.cache_creation_input_tokens'],
  conversation: ['gen_ai.conversation.id'],
  customer: ['burnrate.customer_id'],
  feature: ['burnrate.feature'],
  costCentre: ['burnrate.cost_centre'],
  service: ['service.name'],
} as const;

/** gen_ai.provider.name (and gen_ai.system) values as burnrate and its price dataset name providers. */
const PROVIDERS: Record<string, string> = {
  'gcp.gemini': 'google',
  'gcp.vertex_ai': 'google',
  'gcp.gen_ai': 'google',
  vertex_ai: 'google',
  gemini: 'google',
  'aws.bedrock': 'bedrock',
  'az.ai.openai': 'azure',
  'azure.ai.openai': 'azure',
  'azure.ai.inference': 'azure',
  'az.ai.inference': 'azure',
  mistral_ai: 'mistral',
  x_ai: 'x-ai',
  'ibm.watsonx.ai': 'ibm',
};

/** Longest string carried from an attribute: the run contract's limits are lower, and say what is wrong. */
const MAX_STRING = 1024;

/**
 * The strings a span hands the runs made from it or below it, each with the run contract's limit (RUN_LIMITS) and
 * whether it becomes an id (agent_id: no white space at either end). Checked when the span arrives, so that a value
 * the contract would refuse later, after the trace's hold, is answered to its sender in partialSuccess instead.
 */
const CARRIED = [
  ['agent_name', 'gen_ai.agent.name', RUN_LIMITS.maxIdLength, true],
  ['service_name', 'service.name', RUN_LIMITS.maxIdLength, true],
  ['tool_name', 'gen_ai.tool.name', RUN_LIMITS.maxDimensionLength, false],
  ['conversation_id', 'gen_ai.conversation.id', RUN_LIMITS.maxDimensionLength, false],
  ['customer_id', 'burnrate.customer_id', RUN_LIMITS.maxDimensionLength, false],
  ['feature', 'burnrate.feature', RUN_LIMITS.maxDimensionLength, false],
  ['cost_centre', 'burnrate.cost_centre', RUN_LIMITS.maxDimensionLength, false],
  ['resource_customer_id', 'burnrate.customer_id (resource)', RUN_LIMITS.maxDimensionLength, false],
  ['resource_feature', 'burnrate.feature (resource)', RUN_LIMITS.maxDimensionLength, false],
  ['resource_cost_centre', 'burnrate.cost_centre (resource)', RUN_LIMITS.maxDimensionLength, false],
] as const;

/** What the run contract would say of a string it takes, or null when it takes it. */
function stringProblem(value: string, max: number, id: boolean): string | null {
  if (hasUnsafeCharacter(value)) return 'must not contain control characters or unpaired surrogates';
  if ([...value].length > max) return `must be at most ${max} characters`;
  if (id && value.trim() !== value) return 'must not start or end with white space';
  return null;
}

/**
 * Reads one span. Spans that are not GenAI become `other`, kept for ancestry. A GenAI model span that cannot be a run
 * (no model, a token count that is not a non-negative integer) or any span whose ids are not OTLP's is refused, with
 * the reason; a refused span with valid ids is still kept, as `other`, so that the chain through it holds.
 */
export function readSpan(span: OtlpSpan): SpanReading {
  const a = span.attributes;
  const base: OtelSpan = {
    span_id: span.spanId,
    parent_span_id: span.parentSpanId,
    kind: 'other',
    start_time: span.startMs,
    end_time: span.endMs,
    error: span.error,
    service_name: text(span.resource, ATTR.service),
    agent_name: null,
    tool_name: null,
    model: null,
    provider: null,
    input_tokens: null,
    output_tokens: null,
    cache_read_tokens: null,
    cache_write_tokens: null,
    conversation_id: text(a, ATTR.conversation),
    customer_id: text(a, ATTR.customer),
    feature: text(a, ATTR.feature),
    cost_centre: text(a, ATTR.costCentre),
    resource_customer_id: text(span.resource, ATTR.customer),
    resource_feature: text(span.resource, ATTR.feature),
    resource_cost_centre: text(span.resource, ATTR.costCentre),
  };
  if (!/^[0-9a-f]{32}$/.test(span.traceId) || /^0+$/.test(span.traceId))
    return { ok: false, reason: 'invalid trace id', span: null };
  if (!/^[0-9a-f]{16}$/.test(span.spanId) || /^0+$/.test(span.spanId))
    return { ok: false, reason: 'invalid span id', span: null };
  if (base.parent_span_id !== null && !/^[0-9a-f]{16}$/.test(base.parent_span_id)) base.parent_span_id = null;

  const operation = text(a, ATTR.operation);
  const usage = [...ATTR.inputTokens, ...ATTR.outputTokens].some((k) => a.has(k));
  const agentName = text(a, ATTR.agentName);
  let kind: SpanKind = 'other';
  if (operation !== null && AGENT_OPERATIONS.has(operation)) kind = 'agent';
  else if ((operation !== null && MODEL_OPERATIONS.has(operation)) || usage) kind = 'model';
  else if (operation === TOOL_OPERATION) kind = 'tool';
  else if (agentName !== null) kind = 'agent';
  base.agent_name = agentName;
  base.tool_name = text(a, ATTR.toolName);
  const unfit: string[] = [];
  for (const [field, attribute, max, id] of CARRIED) {
    const value = base[field];
    const problem = value === null ? null : stringProblem(value, max, id);
    if (problem === null) continue;
    unfit.push(`${attribute} ${problem}`);
    base[field] = null; // kept for the chain through it, without what no run may carry
  }
  if (unfit.length > 0) return { ok: false, reason: unfit.join('; '), span: base };
  if (kind !== 'model') return { ok: true, span: { ...base, kind } };

  const model = text(a, ATTR.model);
  const provider = providerName(text(a, ATTR.provider));
  const problems: string[] = [];
  if (model === null) problems.push('no gen_ai.response.model or gen_ai.request.model');
  else {
    const problem = stringProblem(model, RUN_LIMITS.maxModelLength, true);
    if (problem) problems.push(`the model ${problem}`);
  }
  const providerProblem = provider === null ? null : stringProblem(provider, 64, false);
  if (providerProblem) problems.push(`the provider ${providerProblem}`);
  const tokens = (names: readonly string[]): number | null => {
    const found = names.find((n) => a.has(n));
    if (found === undefined) return null;
    const n = tokenCount(a.get(found)!);
    if (n === null) problems.push(`${found} must be a non-negative integer`);
    return n;
  };
  const counts = {
    input: tokens(ATTR.inputTokens),
    output: tokens(ATTR.outputTokens),
    cacheRead: tokens(ATTR.cacheRead),
    cacheWrite: tokens(ATTR.cacheWrite),
  };
  if (problems.length > 0) return { ok: false, reason: problems.join('; '), span: base };

  const { cacheRead, cacheWrite } = counts;
  let input = counts.input ?? 0;
  // The conventions count cache reads and writes inside gen_ai.usage.input_tokens; the run contract counts them beside
  // input_tokens for Claude models (as Anthropic's API does). Taken out only when they fit: an instrumentation that
  // passed Anthropic's own input_tokens through (smaller than its cache tokens) already has them out.
  const cached = (cacheRead ?? 0) + (cacheWrite ?? 0);
  if (cached > 0 && cachedOutsideInput(model!, provider) && input >= cached) input -= cached;
  return {
    ok: true,
    span: {
      ...base,
      kind,
      model,
      provider,
      input_tokens: input,
      output_tokens: counts.output ?? 0,
      cache_read_tokens: cacheRead,
      cache_write_tokens: cacheWrite,
    },
  };
}

/** gen_ai.provider.name (or the older gen_ai.system) as burnrate names providers; other values lower-cased as given. */
export function providerName(value: string | null): string | null {
  if (value === null) return null;
  const v = value.trim().toLowerCase();
  return PROVIDERS[v] ?? (v === '' ? null : v);
}

/** Models whose input_tokens the run contract counts without cached tokens: Claude's, wherever it is served. */
function cachedOutsideInput(model: string, provider: string | null): boolean {
  return provider === 'anthropic' || /claude/i.test(model);
}

function first(
  attrs: ReadonlyMap<string, AttributeValue>,
  names: readonly string[],
): AttributeValue | undefined {
  for (const n of names) {
    const v = attrs.get(n);
    if (v !== undefined) return v;
  }
  return undefined;
}

function text(attrs: ReadonlyMap<string, AttributeValue>, names: readonly string[]): string | null {
  const v = first(attrs, names);
  if (v === undefined) return null;
  const s = String(v).slice(0, MAX_STRING);
  return s === '' ? null : s;
}

/** A token count: a non-negative integer, or its decimal string; null when it is neither. */
function tokenCount(v: AttributeValue): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}
