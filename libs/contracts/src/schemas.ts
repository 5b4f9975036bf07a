import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** An Avro schema as JSON. */
export type AvroSchema = Record<string, unknown> | string | unknown[];

export interface NamedSchema {
  /** Full name, e.g. dev.burnrate.v1.RunEvent */
  readonly fullName: string;
  /** The file it came from, relative to schemas/. */
  readonly file: string;
  /** Self-contained schema: every named type referenced from another file is inlined at its first use. */
  readonly schema: Record<string, unknown>;
}

/** schemas/ at the repository root, from source (libs/contracts/src) or compiled (dist/libs/contracts/src). */
export function defaultSchemaDir(): string {
  if (process.env.BURNRATE_SCHEMA_DIR) return process.env.BURNRATE_SCHEMA_DIR;
  const fromSource = resolve(__dirname, '../../../schemas');
  const fromDist = resolve(__dirname, '../../../../schemas');
  try {
    readdirSync(fromSource);
    return fromSource;
  } catch {
    return fromDist;
  }
}

function fullNameOf(schema: Record<string, unknown>, enclosingNs?: string): string {
  const name = String(schema.name);
  if (name.includes('.')) return name;
  const ns = (schema.namespace as string | undefined) ?? enclosingNs;
  return ns ? `${ns}.${name}` : name;
}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

/**
 * Loads every .avsc under `dir`. The files are the single source of truth; a record may name a type
 * defined in another file, and the loader inlines that definition so what gets registered is complete.
 */
export function loadSchemas(dir: string = defaultSchemaDir()): Map<string, NamedSchema> {
  const raw = new Map<string, { file: string; json: Record<string, unknown> }>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()) {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    raw.set(fullNameOf(json), { file, json });
  }

  const expand = (node: unknown, ns: string | undefined, defined: Set<string>): unknown => {
    if (typeof node === 'string') {
      if (PRIMITIVES.has(node)) return node;
      const full = node.includes('.') ? node : ns ? `${ns}.${node}` : node;
      if (defined.has(full) || defined.has(node)) return node;
      const ref = raw.get(full) ?? raw.get(node);
      if (!ref) throw new Error(`schemas: unknown type "${node}"`);
      return expand(ref.json, undefined, defined);
    }
    if (Array.isArray(node)) return node.map((n) => expand(n, ns, defined));
    if (node && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      const type = obj.type;
      if (type === 'record' || type === 'error') {
        const full = fullNameOf(obj, ns);
        defined.add(full);
        const innerNs = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : ns;
        const fields = (obj.fields as Record<string, unknown>[]).map((f) => ({
          ...f,
          type: expand(f.type, innerNs, defined),
        }));
        return { ...obj, fields };
      }
      if (type === 'enum' || type === 'fixed') {
        defined.add(fullNameOf(obj, ns));
        return obj;
      }
      if (type === 'array') return { ...obj, items: expand(obj.items, ns, defined) };
      if (type === 'map') return { ...obj, values: expand(obj.values, ns, defined) };
      return { ...obj, type: expand(type, ns, defined) };
    }
    return node;
  };

  const out = new Map<string, NamedSchema>();
  for (const [fullName, { file, json }] of raw) {
    out.set(fullName, {
      fullName,
      file,
      schema: expand(json, undefined, new Set()) as Record<string, unknown>,
    });
  }
  return out;
}
