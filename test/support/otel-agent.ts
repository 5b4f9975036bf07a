/**
 * An agent instrumented with OpenTelemetry's own JS SDK, run as its own process by test/otlp.test.ts (the SDK's HTTP
 * transport loads `http` with a dynamic import, which jest's CommonJS runtime refuses). It exports the GenAI spans of
 * one agent run to `<url>` as each span ends: the model calls first, in protobuf with gzip, then the agent spans around
 * them in a later request, in JSON. Prints the trace id and every span id by name, as one JSON line.
 *
 *   node -r @swc-node/register test/support/otel-agent.ts <url> <api key>
 */
import { context, trace, SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '@opentelemetry/core';

/** Every export's outcome: the batch processor only logs a failed export, and this process must fail instead. */
const failures: string[] = [];

function checked(inner: SpanExporter): SpanExporter {
  return {
    export: (spans: ReadableSpan[], done: (result: ExportResult) => void) =>
      inner.export(spans, (result) => {
        if (result.code !== 0) failures.push(String(result.error?.message ?? result.error));
        done(result);
      }),
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

function tracerOf(
  exporter: SpanExporter,
  resource: Attributes,
): { tracer: Tracer; flush: () => Promise<void> } {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  return { tracer: provider.getTracer('burnrate-otlp-test'), flush: () => provider.forceFlush() };
}

async function main(url: string, key: string): Promise<void> {
  const headers = { authorization: `Bearer ${key}` };
  const resource = {
    'service.name': 'support-bot',
    'burnrate.customer_id': 'resource-default',
    'burnrate.feature': 'inbox-autoreply',
  };
  const early = tracerOf(
    checked(new ProtoExporter({ url, headers, compression: 'gzip' as never })),
    resource,
  );
  const late = tracerOf(checked(new JsonExporter({ url, headers })), resource);
  const child = (t: Tracer, name: string, parent: Span, attributes: Attributes): Span =>
    t.startSpan(name, { attributes }, trace.setSpan(context.active(), parent));

  const agent = late.tracer.startSpan('invoke_agent planner', {
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'planner',
      'gen_ai.conversation.id': 'conv-42',
      'burnrate.customer_id': 'acme',
    },
  });
  const http = child(early.tracer, 'POST /llm-gateway', agent, { 'http.request.method': 'POST' });
  const gpt = child(early.tracer, 'chat gpt-4o', http, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.response.model': 'gpt-4o-2024-08-06',
    'gen_ai.usage.input_tokens': 1200,
    'gen_ai.usage.output_tokens': 300,
    'gen_ai.usage.cache_read.input_tokens': 1000,
  });
  const claude = child(early.tracer, 'chat claude', agent, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4-5-20250929',
    'gen_ai.usage.input_tokens': 900,
    'gen_ai.usage.output_tokens': 80,
    'gen_ai.usage.cache_read.input_tokens': 500,
    'gen_ai.usage.cache_creation.input_tokens': 100,
  });
  const tool = child(late.tracer, 'execute_tool web_search', agent, {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'web_search',
  });
  const sub = child(late.tracer, 'invoke_agent researcher', tool, {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'researcher',
    'burnrate.customer_id': 'globex',
  });
  // an older instrumentation: gen_ai.system and prompt/completion tokens
  const gemini = child(early.tracer, 'generate_content gemini', sub, {
    'gen_ai.operation.name': 'generate_content',
    'gen_ai.system': 'gcp.vertex_ai',
    'gen_ai.request.model': 'gemini-2.5-flash',
    'gen_ai.usage.prompt_tokens': 640,
    'gen_ai.usage.completion_tokens': 64,
  });
  gemini.setStatus({ code: SpanStatusCode.ERROR, message: 'quota' });
  for (const s of [gpt, http, claude, gemini]) s.end();
  await early.flush();
  for (const s of [sub, tool, agent]) s.end();
  await late.flush();

  if (failures.length > 0) throw new Error(`export failed: ${failures.join('; ')}`);
  const spans = { agent, http, gpt, claude, tool, sub, gemini };
  process.stdout.write(
    JSON.stringify({
      traceId: agent.spanContext().traceId,
      spans: Object.fromEntries(Object.entries(spans).map(([name, s]) => [name, s.spanContext().spanId])),
    }) + '\n',
  );
}

main(process.argv[2], process.argv[3]).catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
