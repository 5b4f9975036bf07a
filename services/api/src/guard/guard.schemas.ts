import type { SchemaObject } from '@nestjs/swagger';
import { RUN_LIMITS } from '@libs/contracts';
import { ID, NO_CONTROL, instant, type JsonSchema } from '../body-schemas';

/** POST /v1/guard/blocks. */
export interface GuardBlockBody {
  team?: string;
  agent_id: string;
  reason: string;
  customer_id?: string | null;
  tool?: string | null;
  until?: string | null;
}

export const REASON_MAX_LENGTH = 500;

/** An agent, customer or tool as a run names it: what the guard compares a call's with. */
const runId = (maxLength: number, description: string, nullable = false): JsonSchema => ({
  type: 'string',
  minLength: 1,
  maxLength,
  pattern: ID,
  ...(nullable && { nullable }),
  description,
});

const GuardBlockBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['agent_id', 'reason'],
  description:
    'Blocks one agent by hand: GET /v1/guard answers block for its calls (only those for `customer_id`, or with ' +
    '`tool`, when given) until `until` or until the block is lifted (DELETE /v1/guard/blocks/{id})',
  properties: {
    team: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      pattern: NO_CONTROL,
      description: 'The agent’s team: required with an admin key; a team key blocks only in its own team',
    },
    agent_id: runId(RUN_LIMITS.maxIdLength, 'The agent to block, as its runs name it'),
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: REASON_MAX_LENGTH,
      pattern: NO_CONTROL,
      description: 'Why, for the people paged and for the agent told it is blocked',
    },
    customer_id: runId(
      RUN_LIMITS.maxDimensionLength,
      'Only the agent’s calls for this customer are refused; absent or null: every call',
      true,
    ),
    tool: runId(
      RUN_LIMITS.maxDimensionLength,
      'Only the agent’s calls of this tool are refused; absent or null: every call',
      true,
    ),
    until: instant('When the block lapses by itself (in the future); absent or null: until lifted', true),
  },
};

/** The guard's request bodies, by their name under #/components/schemas. */
export const GUARD_SCHEMAS: Readonly<Record<string, JsonSchema>> = { GuardBlockBody };

const nullableString = (description: string, format?: string): SchemaObject => ({
  type: 'string',
  nullable: true,
  ...(format && { format }),
  description,
});

/** One manual block as the blocks endpoints answer it (OpenAPI). */
export const GUARD_BLOCK_VIEW: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    team: { type: 'string' },
    agent_id: { type: 'string' },
    customer_id: nullableString('Only calls for this customer are refused; null: every call'),
    tool: nullableString('Only calls of this tool are refused; null: every call'),
    reason: { type: 'string' },
    until: nullableString('When it lapses by itself; null: when lifted', 'date-time'),
    state: {
      type: 'string',
      enum: ['active', 'expired', 'lifted'],
      description: 'active: in force; expired: its until has passed; lifted: DELETE /v1/guard/blocks/{id}',
    },
    created_by_key_id: { type: 'string', format: 'uuid' },
    created_at: { type: 'string', format: 'date-time' },
    lifted_by_key_id: nullableString('The API key that lifted it', 'uuid'),
    lifted_at: nullableString('When it was lifted', 'date-time'),
  },
  required: [
    'id',
    'team',
    'agent_id',
    'customer_id',
    'tool',
    'reason',
    'until',
    'state',
    'created_by_key_id',
    'created_at',
    'lifted_by_key_id',
    'lifted_at',
  ],
};

/** GET /v1/guard's answer (OpenAPI). */
export const GUARD_DECISION_VIEW: SchemaObject = {
  type: 'object',
  properties: {
    decision: { type: 'string', enum: ['allow', 'block'] },
    reasons: {
      type: 'array',
      description:
        'Every control in force that applies to the call, blocks first: a rule’s limit crossed, a budget spent, ' +
        'a manual block; `action: alert` ones are reported and never refuse',
      items: {
        type: 'object',
        properties: {
          source: { type: 'string', enum: ['rule', 'budget', 'manual'] },
          source_id: { type: 'string', description: 'The guard rule’s, budget’s or manual block’s id' },
          action: { type: 'string', enum: ['block', 'alert'] },
          reason: {
            type: 'string',
            description: 'One human sentence: which limit, what was observed, since when',
          },
          metric: { type: 'string', nullable: true, enum: ['cost', 'runs', 'tool_calls'] },
          amount: { type: 'number', nullable: true, description: 'The limit, in the metric’s unit' },
          observed: { type: 'number', nullable: true, description: 'What was measured, same unit' },
          window_s: { type: 'integer', nullable: true, description: 'The rule’s window in seconds' },
          currency: { type: 'string', nullable: true },
          since: { type: 'string', format: 'date-time' },
          until: nullableString('When it lapses by itself; null: when lifted', 'date-time'),
        },
        required: ['source', 'source_id', 'action', 'reason', 'since', 'until'],
      },
    },
    until: nullableString(
      'When the block lapses by itself: the latest until of the blocking reasons; null when one has none, or allowed',
      'date-time',
    ),
  },
  required: ['decision', 'reasons', 'until'],
};
