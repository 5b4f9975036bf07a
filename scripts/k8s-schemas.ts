/**
 * Makes standalone JSON schemas for kubeconform from the kubernetes-validate package's per-version schemas (PyPI,
 * reachable where GitHub is not): each kind's file with every definition it references copied in, so it needs no
 * other file. Usage: node -r @swc-node/register scripts/k8s-schemas.ts <in-dir> <out-dir> <kind-file>...
 * (kind files as kubeconform names them, e.g. deployment-apps-v1).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const [input, out, ...kinds] = process.argv.slice(2);
if (!input || !out || kinds.length === 0) {
  process.stderr.write('usage: k8s-schemas.ts <in-dir> <out-dir> <kind-file>...\n');
  process.exit(2);
}
const defs = (
  JSON.parse(readFileSync(join(input, '_definitions.json'), 'utf8')) as { $defs: Record<string, Json> }
).$defs;
const REF = /^(?:(?:\/api\/)?_definitions\.json)?#\/\$defs\/(.+)$/;

/** A copy of `node` with every reference local (#/definitions/<name>), collecting the names it needs. */
function localise(node: Json, needed: Set<string>): Json {
  if (Array.isArray(node)) return node.map((n) => localise(n, needed));
  if (node === null || typeof node !== 'object') return node;
  const outNode: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node)) {
    const m = k === '$ref' && typeof v === 'string' ? REF.exec(v) : null;
    if (m) {
      needed.add(m[1]);
      outNode.$ref = `#/definitions/${m[1]}`;
    } else outNode[k] = localise(v, needed);
  }
  return outNode;
}

mkdirSync(out, { recursive: true });
for (const kind of kinds) {
  const needed = new Set<string>();
  const root = localise(
    JSON.parse(readFileSync(join(input, `${kind}.json`), 'utf8')) as Json,
    needed,
  ) as Record<string, Json>;
  const definitions: Record<string, Json> = {};
  const queue = [...needed];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (name in definitions) continue;
    if (!(name in defs)) throw new Error(`${kind}: no definition ${name}`);
    const more = new Set<string>();
    definitions[name] = localise(defs[name], more);
    for (const m of more) if (!(m in definitions)) queue.push(m);
  }
  writeFileSync(join(out, `${kind}.json`), JSON.stringify({ ...root, definitions }));
}
process.stdout.write(`${kinds.length} standalone Kubernetes schemas written to ${out}\n`);
