/**
 * Converts CustomResourceDefinition YAML files into the JSON schemas kubeconform reads, one per served version, at
 * <out>/<group>/<kind>_<version>.json (kubeconform's `{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}`),
 * strict: unknown fields are errors, as they are for built-in kinds.
 * Usage: node -r @swc-node/register scripts/crd-schemas.ts <out-dir> <crd.yaml>...
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

interface Crd {
  kind?: string;
  spec?: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema?: { openAPIV3Schema?: Record<string, unknown> } }[];
  };
}

/** Strict, as kubeconform -strict is for built-in kinds: an object with known properties allows no others. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const o = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, strict(v)])) as Record<
    string,
    unknown
  >;
  if (o.properties && o.additionalProperties === undefined && !o['x-kubernetes-preserve-unknown-fields'])
    o.additionalProperties = false;
  return o;
}

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  process.stderr.write('usage: crd-schemas.ts <out-dir> <crd.yaml>...\n');
  process.exit(2);
}
let written = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS() as Crd | null;
    if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
    for (const v of crd.spec.versions) {
      const schema = v.schema?.openAPIV3Schema;
      if (!v.served || !schema) continue;
      const dir = join(out, crd.spec.group);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, `${crd.spec.names.kind.toLowerCase()}_${v.name}.json`),
        JSON.stringify(strict({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema })),
      );
      written++;
    }
  }
}
process.stdout.write(`${written} CRD schemas written to ${out}\n`);
