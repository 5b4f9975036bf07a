import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as avro from 'avsc';
import { loadSchemas } from '@libs/contracts';
import { testConfig, uid } from './support/stack';

/**
 * Compatibility rules for the contracts: every schema in schemas/ must read data written with every released
 * version (schemas/released/<name>.<n>.json) — BACKWARD, the registry's rule for our subjects — checked both with
 * Avro's own schema resolution and by the real registry; and, from git, with every version ever committed, while a
 * released snapshot never changes once committed.
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
const ROOT = resolve(__dirname, '..');
const git = (...args: string[]): string =>
  execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const inGit = existsSync(join(ROOT, '.git'));

/** Every committed state of schemas/*.avsc, loaded as the service would have loaded it then. */
function committedSchemaVersions(): { commit: string; schemas: ReturnType<typeof loadSchemas> }[] {
  const commits = git('log', '--format=%H', '--', 'schemas/*.avsc').split('\n').filter(Boolean);
  const base = mkdtempSync(join(tmpdir(), 'schemas-'));
  return commits.map((commit) => {
    const dir = join(base, commit);
    mkdirSync(dir);
    for (const file of git('ls-tree', '--name-only', commit, 'schemas/').split('\n')) {
      if (file.endsWith('.avsc'))
        writeFileSync(join(dir, file.slice('schemas/'.length)), git('show', `${commit}:${file}`));
    }
    return { commit, schemas: loadSchemas(dir) };
  });
}
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

  it('has a released snapshot of every contract, so that every one of them is held to these rules', () => {
    const snapshotted = new Set(released.map((r) => r.name));
    expect([...current.keys()].filter((name) => !snapshotted.has(name))).toEqual([]);
  });

  (inGit ? it : it.skip)('reads data written with every version of schemas/*.avsc ever committed', () => {
    const versions = committedSchemaVersions();
    expect(versions.length).toBeGreaterThan(0);
    for (const { commit, schemas } of versions) {
      for (const [name, old] of schemas) {
        const now = current.get(name);
        expect(`${name} at ${commit.slice(0, 8)}: ${now ? 'present' : 'removed'}`).toMatch(/present$/);
        const reader = avro.Type.forSchema(now!.schema as avro.Schema);
        expect(() => reader.createResolver(avro.Type.forSchema(old.schema as avro.Schema))).not.toThrow();
      }
    }
  });

  (inGit ? it : it.skip)('never rewrites a released snapshot once committed', () => {
    for (const r of released) {
      const path = `schemas/released/${r.file}`;
      const added = git('log', '--diff-filter=A', '--format=%H', '--', path).trim().split('\n').pop();
      if (!added) continue; // not committed yet: the snapshot of a new version
      expect(`${path}: ${JSON.stringify(r.schema)}`).toBe(
        `${path}: ${JSON.stringify(JSON.parse(git('show', `${added}:${path}`)))}`,
      );
    }
  });

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
