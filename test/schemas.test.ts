import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as avro from 'avsc';
import { loadSchemas } from '@libs/contracts';
import { testConfig, uid } from './support/stack';

/**
 * Compatibility rules for the contracts: every schema in schemas/ must read data written with every released
 * version (schemas/released/<name>.<n>.json) — BACKWARD, the registry's rule for our subjects — checked both with
 * Avro's own schema resolution and by the real registry.
 */
const RELEASED = join(__dirname, '../schemas/released');
const released = readdirSync(RELEASED)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    file: f,
    name: f.replace(/\.\d+\.json$/, ''),
    schema: JSON.parse(readFileSync(join(RELEASED, f), 'utf8')),
  }));
const current = loadSchemas();
const registry = testConfig().SCHEMA_REGISTRY_URL;

async function registryAccepts(subject: string, older: object, newer: object): Promise<boolean> {
  const post = (path: string, schema: object) =>
    fetch(`${registry}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schemaType: 'AVRO', schema: JSON.stringify(schema) }),
    });
  await fetch(`${registry}/config/${subject}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  });
  const registered = await post(`/subjects/${subject}/versions`, older);
  expect(registered.ok).toBe(true);
  const check = await post(`/compatibility/subjects/${subject}/versions/latest`, newer);
  expect(check.ok).toBe(true);
  return ((await check.json()) as { is_compatible: boolean }).is_compatible;
}

describe('schema compatibility', () => {
  it('still has every released schema (a released contract is never removed)', () => {
    for (const r of released) expect(current.has(r.name)).toBe(true);
  });

  it.each(released.map((r) => [r.file, r] as const))(
    '%s: the current schema reads data written with it',
    async (_file, r) => {
      const reader = avro.Type.forSchema(current.get(r.name)!.schema as avro.Schema);
      const writer = avro.Type.forSchema(r.schema as avro.Schema);
      expect(() => reader.createResolver(writer)).not.toThrow();
      expect(await registryAccepts(`compat-${uid()}-${r.name}`, r.schema, current.get(r.name)!.schema)).toBe(
        true,
      );
    },
  );

  it('would catch a breaking change: a new required field without a default', async () => {
    const run = current.get('dev.burnrate.v1.RunEvent')!.schema as { fields: object[] };
    const broken = { ...run, fields: [...run.fields, { name: 'region', type: 'string' }] };
    const original = released.find((r) => r.name === 'dev.burnrate.v1.RunEvent')!.schema;
    expect(() =>
      avro.Type.forSchema(broken as avro.Schema).createResolver(avro.Type.forSchema(original)),
    ).toThrow();
    expect(await registryAccepts(`compat-${uid()}-broken`, original, broken)).toBe(false);
  });

  it('accepts an additive change with a default', async () => {
    const run = current.get('dev.burnrate.v1.RunEvent')!.schema as { fields: object[] };
    const evolved = {
      ...run,
      fields: [...run.fields, { name: 'region', type: ['null', 'string'], default: null }],
    };
    const original = released.find((r) => r.name === 'dev.burnrate.v1.RunEvent')!.schema;
    expect(await registryAccepts(`compat-${uid()}-evolved`, original, evolved)).toBe(true);
  });
});
