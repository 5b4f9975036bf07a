import { loadSchemas } from './schemas';
import { RUN_LIMITS, STRING_PATTERNS } from './run-validation';

type OpenApiSchema = Record<string, unknown>;

const REQUIRED = [
  'run_id',
  'agent_id',
  'model',
  'input_tokens',
  'output_tokens',
  'started_at',
  'finished_at',
  'status',
];
const SERVER_SET = new Set(['received_at', 'source']);

/** The run as JSON over HTTP, derived from schemas/run.avsc (the single source), for the OpenAPI page. */
export function runJsonSchema(): OpenApiSchema {
  const avro = loadSchemas().get('dev.burnrate.v1.RunEvent')!.schema as {
    doc?: string;
    fields: { name: string; type: unknown; doc?: string }[];
  };
  const properties: Record<string, OpenApiSchema> = {};
  for (const field of avro.fields) {
    if (SERVER_SET.has(field.name)) continue;
    properties[field.name] = {
      ...toJson(field.name, field.type),
      ...(field.doc ? { description: field.doc } : {}),
    };
  }
  return { type: 'object', required: REQUIRED, properties, description: avro.doc };
}

function toJson(name: string, type: unknown): OpenApiSchema {
  if (Array.isArray(type)) {
    const inner = type.find((t) => t !== 'null');
    return { ...toJson(name, inner), nullable: true };
  }
  if (type && typeof type === 'object') {
    const t = type as { type: string; logicalType?: string; values?: unknown };
    if (t.logicalType === 'timestamp-millis') return { type: 'string', format: 'date-time' };
    if (t.type === 'map')
      return {
        type: 'object',
        additionalProperties: toJson(name, t.values),
        maxProperties: RUN_LIMITS.maxTags,
        // over HTTP, null is taken as no tags
        nullable: true,
      };
    return toJson(name, t.type);
  }
  switch (type) {
    case 'long':
    case 'int':
      return { type: 'integer', minimum: 0, maximum: RUN_LIMITS.maxTokens };
    case 'double':
    case 'float':
      return name === 'quality_score' ? { type: 'number', minimum: 0, maximum: 1 } : { type: 'number' };
    case 'boolean':
      return { type: 'boolean' };
    default:
      if (name === 'status') return { type: 'string', enum: ['success', 'error', 'timeout', 'cancelled'] };
      return (
        STRINGS[name] ?? {
          type: 'string',
          maxLength: RUN_LIMITS.maxDimensionLength,
          pattern: STRING_PATTERNS.noControl,
        }
      );
  }
}

/** The run contract's checks of its strings (run-validation.ts), as schemas. Lengths in characters (code points). */
const id = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength, pattern: STRING_PATTERNS.id });
const STRINGS: Record<string, OpenApiSchema> = {
  run_id: id(RUN_LIMITS.maxIdLength),
  agent_id: id(RUN_LIMITS.maxIdLength),
  model: id(RUN_LIMITS.maxModelLength),
  provider: { type: 'string', maxLength: 64, pattern: STRING_PATTERNS.noControl },
  team: { type: 'string', maxLength: RUN_LIMITS.maxIdLength, pattern: STRING_PATTERNS.noControl },
  tags: { type: 'string', maxLength: RUN_LIMITS.maxTagValueLength, pattern: STRING_PATTERNS.noControl },
};
