import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  type PipeTransform,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  type SchemaObject,
} from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, apiError, type Principal } from '@libs/auth';
import { RUN_LIMITS, type FieldError } from '@libs/contracts';
import { ApiErrors } from '@libs/observability';
import { ID } from '../body-schemas';
import {
  PathParam,
  QueryParam,
  RUN_ID,
  TEAM,
  UUID,
  badRequest,
  fits,
  forbidden,
  idParam,
  invalidBody,
  notFound,
  teamScope,
  uuidParam,
} from '../http';
import { PageQuery, linkNext, nextCursor, pageRequest, type Keyset } from '../pagination';
import type { Limit } from '../time-range';
import { BodyValidator } from '../validate-body.pipe';
import { GuardKafkaUnavailable } from './agent-controls.kafka';
import type { ManualBlock } from './core/manual-block';
import { GUARD_BLOCK_VIEW, GUARD_DECISION_VIEW, GUARD_SCHEMAS, type GuardBlockBody } from './guard.schemas';
import { GuardService } from './guard.service';

const LIST: Limit = { fallback: 100, max: 1000 };
/** Newest first, then by id. */
const BLOCKS_KEYSET: Keyset = { parts: ['instant', 'text'] };
/** A customer or a tool of a call, as a run names them. */
const DIMENSION: SchemaObject = {
  type: 'string',
  minLength: 1,
  maxLength: RUN_LIMITS.maxDimensionLength,
  pattern: ID,
};
const TEAM_OF_KEY = 'A team key: its own team (another is 403); an admin key: required';

let validator: BodyValidator | undefined;

/** The body of POST /v1/guard/blocks, valid against its schema and with `until` in the future, or a 400 naming each bad field. */
const blockBody: PipeTransform<unknown, GuardBlockBody> = {
  transform: (value: unknown) => {
    validator ??= new BodyValidator(GUARD_SCHEMAS);
    const problems: FieldError[] = validator.problems('GuardBlockBody', value);
    const until = (value as GuardBlockBody | null)?.until;
    if (
      typeof until === 'string' &&
      !problems.some((p) => p.field === 'until') &&
      !(Date.parse(until) > Date.now())
    )
      problems.push({ field: 'until', message: 'must be in the future' });
    if (problems.length) throw invalidBody(problems);
    return value as GuardBlockBody;
  },
};

/** The one team a request acts for: a team key's own; the one an admin key names (required). */
function actingTeam(principal: Principal, requested: string | undefined): string {
  const team = teamScope(principal, requested);
  if (team === null) throw badRequest('team is required with an admin API key', { parameter: 'team' });
  return team;
}

const optionalDimension = (name: string, value: string | undefined): string | null => {
  if (value === undefined) return null;
  if (!fits(DIMENSION, value))
    throw badRequest(
      `${name} must be 1-${RUN_LIMITS.maxDimensionLength} characters without control characters or white space at either end`,
      { parameter: name },
    );
  return value;
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function blockView(b: ManualBlock, now = Date.now()) {
  return {
    id: b.id,
    team: b.team,
    agent_id: b.agent_id,
    customer_id: b.customer_id,
    tool: b.tool,
    reason: b.reason,
    until: iso(b.until),
    state: b.lifted_at !== null ? 'lifted' : b.until !== null && b.until <= now ? 'expired' : 'active',
    created_by_key_id: b.created_by_key_id,
    created_at: iso(b.created_at),
    lifted_by_key_id: b.lifted_by_key_id,
    lifted_at: iso(b.lifted_at),
  };
}

/** Kafka not taking the records: nothing was recorded, the caller may retry. */
async function orUnavailable<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof GuardKafkaUnavailable)
      throw apiError(503, 'unavailable', `${err.message}; nothing was changed, retry shortly`, null, {
        'Retry-After': '5',
      });
    throw err;
  }
}

@ApiTags('guard')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/guard')
export class GuardController {
  constructor(private readonly guard: GuardService) {}

  @Get()
  @ApiOperation({
    summary: 'May this agent make this call now? allow or block, with every reason (from memory)',
    description:
      'Asked by a producer before an LLM or tool call. Answered from the api’s in-memory copy of the agent-controls ' +
      'topic (rule limits crossed and budgets spent, from the detector; manual blocks), never from the database or ' +
      'Kafka: the decision takes microseconds. A control applies when it names no agent or ' +
      'this one, no customer or `customer_id`, no tool or `tool`, and its `until` has not passed. ' +
      '`until`: when the block lapses by itself (null: until lifted).',
  })
  @QueryParam('agent_id', RUN_ID, { required: true, description: 'The agent about to call' })
  @QueryParam('customer_id', DIMENSION, { description: 'The customer the call is for, if any' })
  @QueryParam('tool', DIMENSION, { description: 'The tool the call uses, if any' })
  @QueryParam('team', TEAM, { description: TEAM_OF_KEY })
  @ApiOkResponse({ description: 'The decision', schema: GUARD_DECISION_VIEW })
  @ApiErrors({ 403: 'A team key names another team' })
  check(
    @CurrentPrincipal() principal: Principal,
    @Query('agent_id') agentId?: string,
    @Query('customer_id') customerId?: string,
    @Query('tool') tool?: string,
    @Query('team') team?: string,
  ) {
    if (agentId === undefined) throw badRequest('agent_id is required', { parameter: 'agent_id' });
    return this.guard.decide({
      team: actingTeam(principal, team),
      agent_id: idParam('agent_id', agentId),
      customer_id: optionalDimension('customer_id', customerId),
      tool: optionalDimension('tool', tool),
    });
  }

  @Post('blocks')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Block an agent by hand (audited, paged)',
    description:
      'Every api replica answers block for the agent’s calls within seconds (GET /v1/guard), for one customer or ' +
      'tool when given, until `until` or DELETE /v1/guard/blocks/{id}. The block is recorded with the API key that ' +
      'set it, and pages the team’s alert routes as a critical `guard_manual_block` incident. 503: Kafka did not ' +
      'take it; nothing was recorded and nothing blocks.',
  })
  @ApiBody({ required: true, schema: { $ref: '#/components/schemas/GuardBlockBody' } })
  @ApiCreatedResponse({ description: 'The block, as recorded', schema: GUARD_BLOCK_VIEW })
  @ApiErrors({ 403: 'A team key names another team' })
  async block(@CurrentPrincipal() principal: Principal, @Body(blockBody) body: GuardBlockBody) {
    if (principal.role !== 'admin' && body.team !== undefined && body.team !== principal.team)
      throw forbidden(
        `this API key belongs to team "${principal.team}" and cannot block in team "${body.team}"`,
      );
    if (principal.role === 'admin' && body.team === undefined)
      throw invalidBody([{ field: 'team', message: 'is required with an admin API key' }]);
    const block = await orUnavailable(
      this.guard.block(
        {
          team: body.team ?? principal.team,
          agent_id: body.agent_id,
          customer_id: body.customer_id ?? null,
          tool: body.tool ?? null,
          reason: body.reason,
          until: body.until ? Date.parse(body.until) : null,
        },
        principal,
      ),
    );
    return blockView(block);
  }

  @Get('blocks')
  @ApiOperation({
    summary:
      'Manual blocks, newest first: active, expired and lifted (a team key its team’s, an admin all or ?team=)',
  })
  @QueryParam('team', TEAM, {
    description: 'A team key: its own team (another is 403); an admin key: the team, or every team',
  })
  @PageQuery(BLOCKS_KEYSET, LIST)
  @ApiOkResponse({
    description: 'A page of blocks; next_cursor is null on the last',
    schema: {
      type: 'object',
      properties: {
        items: { type: 'array', items: GUARD_BLOCK_VIEW },
        next_cursor: { type: 'string', nullable: true },
      },
      required: ['items', 'next_cursor'],
    },
  })
  @ApiErrors({ 403: 'A team key names another team' })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('team') team?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ) {
    const scope = teamScope(principal, team);
    const { limit, after } = pageRequest(BLOCKS_KEYSET, LIST, limitQ, cursorQ);
    const { blocks, positions } = await this.guard.list(
      scope,
      limit + 1,
      after && [String(after[0]), String(after[1])],
    );
    const next = nextCursor(BLOCKS_KEYSET, limit, positions);
    linkNext(reply, request.url, next);
    const now = Date.now();
    return { items: blocks.slice(0, limit).map((b) => blockView(b, now)), next_cursor: next };
  }

  @Delete('blocks/:id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Lift a manual block (audited; resolves its incident)',
    description:
      'Every api replica answers allow again within seconds (unless another control applies). Lifting a lifted ' +
      'block answers 204 and changes nothing. 503: Kafka did not take it; the block stays, retry.',
  })
  @PathParam('id', UUID, 'The block’s id, as its creation answered it')
  @ApiNoContentResponse({ description: 'Lifted' })
  @ApiErrors({ 404: 'No such block (in the team of a team key)' })
  async lift(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    uuidParam('id', id, 'a block id');
    const team = principal.role === 'admin' ? null : principal.team;
    const lifted = await orUnavailable(this.guard.lift(id.toLowerCase(), team, principal));
    if (!lifted) throw notFound(`no guard block ${id}`);
  }
}
