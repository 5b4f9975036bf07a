import { Body, Controller, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiOperation,
  ApiResponse,
  ApiTags,
  type SchemaObject,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '@libs/auth';
import { runJsonSchema } from '@libs/contracts';
import { API_ERROR_REF, ApiErrors } from '@libs/observability';
import { MIN_BATCH_RUNS, RunsService, type IngestResponse } from './runs.service';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/**
 * The body of POST /v1/runs as components/schemas: one run, or a batch of MIN_BATCH_RUNS to `maxBatchRuns`
 * (MAX_BATCH_RUNS) runs, the bounds RunsService enforces.
 */
export function runsBodySchemas(maxBatchRuns: number): Record<string, SchemaObject> {
  return {
    Run: runJsonSchema(),
    RunBatch: { type: 'array', minItems: MIN_BATCH_RUNS, maxItems: maxBatchRuns, items: ref('Run') },
    RunsBody: {
      oneOf: [ref('Run'), ref('RunBatch')],
      description: `One run, or a batch of ${MIN_BATCH_RUNS} to ${maxBatchRuns} runs (MAX_BATCH_RUNS)`,
    },
  };
}

const example = {
  run_id: 'run_018f4c2a',
  agent_id: 'support-triage',
  model: 'gpt-4o-2024-08-06',
  provider: 'openai',
  input_tokens: 2480,
  output_tokens: 514,
  cache_read_tokens: 1024,
  customer_id: 'cus_8821',
  feature: 'inbox-autoreply',
  session_id: 'sess_77',
  started_at: '2026-06-09T09:14:02Z',
  finished_at: '2026-06-09T09:14:05Z',
  status: 'success',
  quality_score: 0.92,
  tags: { env: 'prod' },
};
const resultSchema: SchemaObject = {
  type: 'object',
  required: ['accepted', 'rejected', 'results'],
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'run_id', 'status'],
        properties: {
          index: { type: 'integer' },
          run_id: { type: 'string', nullable: true },
          status: { type: 'string', enum: ['accepted', 'rejected'] },
          errors: {
            type: 'array',
            items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
    },
  },
};

@ApiTags('runs')
@ApiBearerAuth()
@Controller('v1/runs')
export class RunsController {
  constructor(private readonly runs: RunsService) {}

  @Post()
  @HttpCode(202)
  @UseGuards(ApiKeyGuard)
  @ApiOperation({
    summary: 'Record one run or a batch of runs',
    description:
      'One run object, or a JSON array of up to MAX_BATCH_RUNS (default 1000) runs, in a body of at most MAX_BODY_BYTES ' +
      '(default 5 MiB). Each run is validated on its own: the answer ' +
      'lists every run as accepted or rejected with each failing field, so one bad run never loses the good ones beside it. ' +
      '202 is sent only after Kafka acknowledged the accepted runs (acks=all). A team key writes runs for its own team ' +
      '(a different `team` in the body is 403); an admin key may set `team`. Retrying a batch is safe: run_id is the ' +
      'idempotency key downstream. Token counts are exactly what the provider reported (see the field descriptions).',
  })
  @ApiBody({
    schema: ref('RunsBody'),
    examples: {
      single: { value: example },
      batch: { value: [example, { ...example, run_id: 'run_018f4c2b', agent_id: 'research-agent' }] },
    },
  })
  @ApiResponse({
    status: 202,
    description: 'At least one run accepted; per-run results',
    schema: resultSchema,
  })
  @ApiResponse({
    status: 400,
    description:
      'No run accepted: per-run results name every failing field. Or the body is neither a run nor a batch of runs ' +
      '(an empty batch, not JSON): the error body',
    schema: { oneOf: [resultSchema, API_ERROR_REF] },
  })
  @ApiErrors({
    403: 'A run names another team than the key’s',
    413: 'More runs than MAX_BATCH_RUNS, or a body over MAX_BODY_BYTES',
    503: 'Kafka did not acknowledge in time, or the API keys cannot be checked: retry after Retry-After seconds',
  })
  async create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<IngestResponse> {
    const result = await this.runs.ingest(body, principal);
    if (result.accepted === 0) void reply.code(400);
    return result;
  }
}
