import { loadSchemas } from './schemas';
import { RUN_LIMITS } from './run-validation';

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
      return name === 'status'
        ? { type: 'string', enum: ['success', 'error', 'timeout', 'cancelled'] }
        : { type: 'string' };
  }
}
