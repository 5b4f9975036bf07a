import { Body, Controller, Headers, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOperation,
  ApiProduces,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, apiError, type Principal } from '@libs/auth';
import { ApiErrors } from '@libs/observability';
import { PROTOBUF_TYPES } from './otlp-body';
import { OtlpDecodeError, decodeJson, decodeProtobuf, encodeResponse, type OtlpSpan } from './otlp-decode';
import { OtlpService } from './otlp.service';

@ApiTags('traces')
@ApiBearerAuth()
@Controller('v1/traces')
export class OtlpController {
  constructor(private readonly otlp: OtlpService) {}

  @Post()
  @HttpCode(200)
  @UseGuards(ApiKeyGuard)
  @ApiOperation({
    summary: 'Receive OpenTelemetry GenAI spans (OTLP/HTTP) and turn them into runs',
    description:
      'An OTLP/HTTP ExportTraceServiceRequest (opentelemetry-proto collector/trace/v1), as protobuf ' +
      '(`application/x-protobuf`) or in OTLP’s JSON mapping (`application/json`), optionally `Content-Encoding: gzip` (or `deflate`): ' +
      'point an OpenTelemetry exporter’s traces endpoint here with `Authorization: Bearer <key>`. Model call spans ' +
      '(gen_ai.operation.name chat, text_completion, generate_content, or any span with gen_ai.usage.* tokens) become ' +
      'runs with their tokens; agent spans (invoke_agent, create_agent) zero-token agent-level runs; agent_id and ' +
      'parent_run_id come from the spans around them, whichever request they arrive in (docs/producers.md, ' +
      'OpenTelemetry). Other spans are kept for that ancestry only. 200 means Kafka holds the spans; their runs are ' +
      'published a few seconds later (OTEL_TRACE_HOLD_MS), once the trace is quiet, through the same validation as ' +
      'POST /v1/runs. Malformed GenAI spans are refused one by one: `partialSuccess` counts them and says why. The ' +
      'answer has the request’s content type.',
  })
  @ApiConsumes('application/x-protobuf', 'application/json')
  @ApiBody({
    schema: {
      type: 'object',
      description: 'ExportTraceServiceRequest: resourceSpans[].scopeSpans[].spans[] with their attributes',
      properties: {
        resourceSpans: {
          type: 'array',
          items: { type: 'object' },
          // protobuf's JSON mapping reads null as the field's default: no spans
          nullable: true,
        },
      },
    },
  })
  @ApiProduces('application/x-protobuf', 'application/json')
  @ApiResponse({
    status: 200,
    description: 'ExportTraceServiceResponse: empty when every span was taken, else partialSuccess',
    schema: {
      type: 'object',
      properties: {
        partialSuccess: {
          type: 'object',
          properties: {
            rejectedSpans: { type: 'string', description: 'int64, as OTLP’s JSON mapping writes it' },
            errorMessage: { type: 'string' },
          },
        },
      },
    },
  })
  @ApiErrors({
    400: 'The body is not an ExportTraceServiceRequest in its content type (or not valid gzip or deflate)',
    413: 'A body over MAX_BODY_BYTES (compressed or inflated)',
    415: 'Neither application/x-protobuf nor application/json, or a Content-Encoding other than gzip or deflate',
    503: 'Kafka did not acknowledge in time, or the API keys cannot be checked: retry after Retry-After seconds',
  })
  async export(
    @Body() body: unknown,
    @Headers('content-type') contentType: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | Record<string, unknown>> {
    const protobuf = PROTOBUF_TYPES.some((t) => contentType?.toLowerCase().startsWith(t));
    let spans: OtlpSpan[];
    try {
      spans = protobuf ? decodeProtobuf(Buffer.isBuffer(body) ? body : Buffer.alloc(0)) : decodeJson(body);
    } catch (err) {
      if (err instanceof OtlpDecodeError) throw apiError(400, 'invalid_body', err.message);
      throw err;
    }
    const result = await this.otlp.export(spans, principal);
    const format = protobuf ? 'protobuf' : 'json';
    if (protobuf) void reply.header('content-type', 'application/x-protobuf');
    return encodeResponse(format, result.rejectedSpans, result.errorMessage);
  }
}
