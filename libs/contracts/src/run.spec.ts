import { loadSchemas } from './schemas';
import { isSuccessfulRun, PRICED_RUN_SHAPE, REJECTED_RUN_SHAPE, RUN_EVENT_SHAPE } from './run';

interface AvroField {
  name: string;
  type: unknown;
}

/** The shape notation of run.ts for an Avro field type. */
function shapeOf(type: unknown): string {
  if (Array.isArray(type)) {
    const others = type.filter((t) => t !== 'null');
    if (others.length !== 1 || others.length === type.length) return `union(${type.map(shapeOf).join(',')})`;
    return `${shapeOf(others[0])}?`;
  }
  if (type && typeof type === 'object') {
    const t = type as { type: unknown; logicalType?: string; values?: unknown };
    if (t.logicalType) return t.logicalType;
    if (t.type === 'map') return `map<${shapeOf(t.values)}>`;
    if (t.type === 'array' || t.type === 'record') return t.type;
    return shapeOf(t.type);
  }
  const primitive = ['null', 'string', 'long', 'int', 'double', 'float', 'boolean', 'bytes'];
  return primitive.includes(type as string) ? (type as string) : 'record';
}

function fieldsOf(fullName: string): [string, string][] {
  const schema = loadSchemas().get(fullName)!.schema as { fields: AvroField[] };
  return schema.fields.map((f) => [f.name, shapeOf(f.type)]);
}

describe('run contract types', () => {
  it.each([
    ['RunEvent', 'dev.burnrate.v1.RunEvent', RUN_EVENT_SHAPE],
    ['RejectedRun', 'dev.burnrate.v1.RejectedRun', REJECTED_RUN_SHAPE],
    ['PricedRun', 'dev.burnrate.v1.PricedRun', PRICED_RUN_SHAPE],
  ])('%s matches its .avsc field by field: names, order, types and nullability', (_name, fullName, shape) => {
    expect(Object.entries(shape)).toEqual(fieldsOf(fullName));
  });

  it('reads the notation the way Avro means it', () => {
    expect(shapeOf(['null', { type: 'long', logicalType: 'timestamp-millis' }])).toBe('timestamp-millis?');
    expect(shapeOf({ type: 'map', values: 'string' })).toBe('map<string>');
    expect(shapeOf(['null', 'string', 'long'])).toBe('union(null,string,long)');
    expect(shapeOf('dev.burnrate.v1.RunEvent')).toBe('record');
  });

  it('inlines the run into the priced run so the registered schema is self-contained', () => {
    const priced = loadSchemas().get('dev.burnrate.v1.PricedRun')!.schema as { fields: AvroField[] };
    const run = priced.fields.find((f) => f.name === 'run')!.type as { type: string; name: string };
    expect(run).toMatchObject({ type: 'record', name: 'RunEvent' });
  });
});

describe('isSuccessfulRun', () => {
  it('is a run with status success and, when scored, a quality score at or above the threshold', () => {
    const run = (status: string, quality_score: number | null) => ({ status, quality_score });
    expect(isSuccessfulRun(run('success', null), 0.7)).toBe(true);
    expect(isSuccessfulRun(run('success', 0.7), 0.7)).toBe(true);
    expect(isSuccessfulRun(run('success', 0.69), 0.7)).toBe(false);
    expect(isSuccessfulRun(run('error', null), 0)).toBe(false);
    expect(isSuccessfulRun(run('error', 1), 0)).toBe(false);
  });
});
