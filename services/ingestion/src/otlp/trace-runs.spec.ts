import type { OtelSpan, SpanKind } from './genai-span';
import { traceRuns, type RunJson } from './trace-runs';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const START = Date.UTC(2026, 5, 9, 9, 14, 2);
const runId = (spanId: string) => `${TRACE}-${spanId}`;

let next = 0;
function span(kind: SpanKind, parent: OtelSpan | null, fields: Partial<OtelSpan> = {}): OtelSpan {
  next++;
  return {
    span_id: next.toString(16).padStart(16, '0'),
    parent_span_id: parent?.span_id ?? null,
    kind,
    start_time: START + next,
    end_time: START + 1000 + next,
    error: false,
    service_name: 'support-bot',
    agent_name: null,
    tool_name: null,
    model: kind === 'model' ? 'gpt-4o' : null,
    provider: kind === 'model' ? 'openai' : null,
    input_tokens: kind === 'model' ? 100 : null,
    output_tokens: kind === 'model' ? 10 : null,
    cache_read_tokens: null,
    cache_write_tokens: null,
    conversation_id: null,
    customer_id: null,
    feature: null,
    cost_centre: null,
    resource_customer_id: null,
    resource_feature: null,
    resource_cost_centre: null,
    ...fields,
  };
}

function runsBySpan(spans: OtelSpan[]): Map<string, RunJson> {
  return new Map(traceRuns(TRACE, spans).runs.map((r) => [r.run_id.slice(TRACE.length + 1), r]));
}

describe(traceRuns.name, () => {
  it('makes a model call a run with its tokens, times, status and source', () => {
    const model = span('model', null, {
      model: 'claude-sonnet-4-5',
      provider: 'anthropic',
      input_tokens: 300,
      output_tokens: 80,
      cache_read_tokens: 500,
      cache_write_tokens: 100,
      error: true,
    });

    expect(traceRuns(TRACE, [model])).toEqual({
      runs: [
        {
          run_id: runId(model.span_id),
          agent_id: 'support-bot',
          model: 'claude-sonnet-4-5',
          provider: 'anthropic',
          input_tokens: 300,
          output_tokens: 80,
          cache_read_tokens: 500,
          cache_write_tokens: 100,
          started_at: new Date(model.start_time).toISOString(),
          finished_at: new Date(model.end_time).toISOString(),
          status: 'error',
          customer_id: null,
          feature: null,
          cost_centre: null,
          session_id: null,
          tool: null,
          parent_run_id: null,
          source: 'otel',
        },
      ],
      orphans: 0,
    });
  });

  it('makes an agent span a zero-token run of model agent, provider burnrate', () => {
    const agent = span('agent', null, { agent_name: 'planner', input_tokens: 999 });
    expect(runsBySpan([agent]).get(agent.span_id)).toMatchObject({
      agent_id: 'planner',
      model: 'agent',
      provider: 'burnrate',
      input_tokens: 0,
      output_tokens: 0,
      cache_read_tokens: null,
      cache_write_tokens: null,
      status: 'success',
      parent_run_id: null,
    });
  });

  it('follows ancestry through spans that are not GenAI, and makes no run of them or of tool spans', () => {
    const agent = span('agent', null, { agent_name: 'planner' });
    const http = span('other', agent);
    const db = span('other', http);
    const model = span('model', db);
    const tool = span('tool', agent, { tool_name: 'search' });

    const sut = runsBySpan([model, db, http, tool, agent]);

    expect([...sut.keys()].sort()).toEqual([agent.span_id, model.span_id].sort());
    expect(sut.get(model.span_id)).toMatchObject({
      agent_id: 'planner',
      parent_run_id: runId(agent.span_id),
    });
  });

  it('takes agent_id from the nearest agent, and parent_run_id from the nearest run, model spans included', () => {
    const planner = span('agent', null, { agent_name: 'planner' });
    const researcher = span('agent', planner, { agent_name: 'researcher' });
    const unnamed = span('agent', researcher);
    const outer = span('model', unnamed);
    // a model call made inside another's handling (a streaming callback): its parent run is that call
    const inner = span('model', outer);
    const named = span('model', researcher, { agent_name: 'summariser' });

    const sut = runsBySpan([planner, researcher, unnamed, outer, inner, named]);

    expect(sut.get(researcher.span_id)).toMatchObject({
      agent_id: 'researcher',
      parent_run_id: runId(planner.span_id),
    });
    expect(sut.get(unnamed.span_id)).toMatchObject({
      agent_id: 'researcher',
      parent_run_id: runId(researcher.span_id),
    });
    expect(sut.get(outer.span_id)).toMatchObject({
      agent_id: 'researcher',
      parent_run_id: runId(unnamed.span_id),
    });
    expect(sut.get(inner.span_id)).toMatchObject({
      agent_id: 'researcher',
      parent_run_id: runId(outer.span_id),
    });
    expect(sut.get(named.span_id)).toMatchObject({
      agent_id: 'summariser',
      parent_run_id: runId(researcher.span_id),
    });
  });

  it('gives a model call without any agent its resource’s service.name as agent_id, else unknown', () => {
    const a = span('model', null);
    const b = span('model', null, { service_name: null });
    const sut = runsBySpan([a, b]);
    expect(sut.get(a.span_id)!.agent_id).toBe('support-bot');
    expect(sut.get(b.span_id)!.agent_id).toBe('unknown');
  });

  it('takes tool from the nearest execute_tool span between a run and its agent', () => {
    const planner = span('agent', null, { agent_name: 'planner' });
    const tool = span('tool', planner, { tool_name: 'web_search' });
    const toolCall = span('model', tool);
    const sub = span('agent', tool, { agent_name: 'researcher' });
    const subCall = span('model', sub);
    const direct = span('model', planner);

    const sut = runsBySpan([planner, tool, toolCall, sub, subCall, direct]);

    expect(sut.get(toolCall.span_id)!.tool).toBe('web_search');
    expect(sut.get(sub.span_id)!.tool).toBe('web_search');
    expect(sut.get(subCall.span_id)!.tool).toBeNull(); // the researcher is not running a tool
    expect(sut.get(direct.span_id)!.tool).toBeNull();
    expect(sut.get(planner.span_id)!.tool).toBeNull();
  });

  it('takes session, customer, feature and cost centre from the span, else its nearest ancestor, else its resource', () => {
    const root = span('other', null, {
      customer_id: 'from-root',
      conversation_id: 'conv-1',
      resource_feature: 'root-resource-feature',
    });
    const agent = span('agent', root, {
      agent_name: 'planner',
      feature: 'inbox',
      resource_customer_id: 'res',
    });
    const model = span('model', agent, {
      cost_centre: 'cc-7',
      resource_customer_id: 'res-2',
      resource_cost_centre: 'res-cc',
    });
    const own = span('model', agent, { customer_id: 'own', conversation_id: 'conv-2' });
    const bare = span('model', null, { resource_customer_id: 'res-only', resource_feature: 'rf' });

    const sut = runsBySpan([root, agent, model, own, bare]);
    const dims = (s: OtelSpan) => {
      const r = sut.get(s.span_id)!;
      return [r.session_id, r.customer_id, r.feature, r.cost_centre];
    };

    expect(dims(agent)).toEqual(['conv-1', 'from-root', 'inbox', null]);
    expect(dims(model)).toEqual(['conv-1', 'from-root', 'inbox', 'cc-7']);
    expect(dims(own)).toEqual(['conv-2', 'own', 'inbox', null]);
    expect(dims(bare)).toEqual([null, 'res-only', 'rf', null]);
  });

  it('releases an orphan with what lies below the gap: no parent run, its own agent or service, its own dimensions', () => {
    const missingParent = 'ffffffffffffffff';
    const http = span('other', null, { parent_span_id: missingParent, customer_id: 'acme' });
    const model = span('model', http);
    const subAgent = span('agent', null, { parent_span_id: missingParent, agent_name: 'researcher' });
    const subCall = span('model', subAgent);

    const { runs, orphans } = traceRuns(TRACE, [http, model, subAgent, subCall]);
    const sut = new Map(runs.map((r) => [r.run_id, r]));

    expect(orphans).toBe(3);
    expect(sut.get(runId(model.span_id))).toMatchObject({
      agent_id: 'support-bot',
      parent_run_id: null,
      customer_id: 'acme',
    });
    expect(sut.get(runId(subAgent.span_id))).toMatchObject({ agent_id: 'researcher', parent_run_id: null });
    expect(sut.get(runId(subCall.span_id))).toMatchObject({
      agent_id: 'researcher',
      parent_run_id: runId(subAgent.span_id),
    });
  });

  it('survives a cycle of parents', () => {
    const a = span('agent', null, { agent_name: 'a' });
    const b = span('model', a);
    a.parent_span_id = b.span_id;
    const { runs, orphans } = traceRuns(TRACE, [a, b]);
    expect(runs).toHaveLength(2);
    expect(orphans).toBe(0);
  });

  it('makes one run of a span received twice', () => {
    const model = span('model', null);
    expect(traceRuns(TRACE, [model, { ...model }]).runs).toHaveLength(1);
  });
});
