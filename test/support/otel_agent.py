"""An agent traced with OpenTelemetry's Python SDK (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http from
PyPI), run by test/otlp.test.ts: a model call exported (protobuf, gzip) before the agent span around it, in a later
request. Prints the trace id and the span ids as one JSON line.

    python test/support/otel_agent.py <traces url> <api key>
"""
import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult


class Checked(OTLPSpanExporter):
    """The batch processor only logs a failed export; this process must fail instead."""

    failures = []

    def export(self, spans):
        result = super().export(spans)
        if result is not SpanExportResult.SUCCESS:
            Checked.failures.append(str(result))
        return result


def main(url, key):
    exporter = Checked(endpoint=url, headers={"Authorization": f"Bearer {key}"}, compression=Compression.Gzip)
    provider = TracerProvider(resource=Resource.create({"service.name": "py-support-bot"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("burnrate-otlp-test")

    agent = tracer.start_span(
        "invoke_agent triage",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "py-triage",
            "gen_ai.conversation.id": "py-conv",
        },
    )
    model = tracer.start_span(
        "chat claude",
        context=trace.set_span_in_context(agent),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "aws.bedrock",
            "gen_ai.request.model": "anthropic.claude-3-5-haiku-20241022-v1:0",
            "gen_ai.usage.input_tokens": 700,
            "gen_ai.usage.output_tokens": 50,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "burnrate.customer_id": "py-customer",
        },
    )
    model.end()
    provider.force_flush()
    agent.end()
    provider.force_flush()
    provider.shutdown()
    if Checked.failures:
        raise SystemExit(f"export failed: {Checked.failures}")
    print(
        json.dumps(
            {
                "traceId": format(agent.get_span_context().trace_id, "032x"),
                "agent": format(agent.get_span_context().span_id, "016x"),
                "model": format(model.get_span_context().span_id, "016x"),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
