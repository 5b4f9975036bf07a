import { Body, Controller, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '@libs/auth';
import { runJsonSchema } from '@libs/contracts';
import { RunsService, type IngestResponse } from './runs.service';

const run = runJsonSchema();
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
const resultSchema = {
  type: 'object',
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
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
const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
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
      'One run object, or a JSON array of up to 1000 runs (body at most 5 MB). Each run is validated on its own: the answer ' +
      'lists every run as accepted or rejected with each failing field, so one bad run never loses the good ones beside it. ' +
      '202 is sent only after Kafka acknowledged the accepted runs (acks=all). A team key writes runs for its own team ' +
      '(a different `team` in the body is 403); an admin key may set `team`. Retrying a batch is safe: run_id is the ' +
      'idempotency key downstream. Token counts are exactly what the provider reported (see the field descriptions).',
  })
  @ApiBody({
    schema: { oneOf: [run, { type: 'array', items: run, maxItems: 1000 }] },
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
    description: 'No run accepted: per-run results name every failing field',
    schema: resultSchema,
  })
  @ApiResponse({ status: 401, description: 'Missing or unknown API key', schema: errorSchema })
  @ApiResponse({ status: 403, description: 'A run names another team than the key’s', schema: errorSchema })
  @ApiResponse({ status: 413, description: 'Too many runs or too large a body', schema: errorSchema })
  @ApiResponse({
    status: 503,
    description: 'Kafka did not acknowledge; retry after Retry-After seconds',
    schema: errorSchema,
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
