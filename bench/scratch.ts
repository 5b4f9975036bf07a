/**
 * The benchmarks' own corner of the local stack, so that `npm run bench` leaves nothing behind in the database, topics
 * and registry the demo and the user's own runs live in:
 *
 *   scratch.ts up <id>     creates database burnrate_<id>; prints its DATABASE_URL
 *   scratch.ts down <id>   drops it (and burnrate_bench, storage.bench.ts's), deletes every topic of namespace <id> or
 *                          of a benchmark's own (`.<id>`, `.e2e…`, `.bench…`) and their schema-registry subjects
 *
 * bench.sh runs `up` first, exports DATABASE_URL and BURNRATE_TOPIC_NAMESPACE=<id>, and `down` when it ends, however.
 */
import { Client } from 'pg';
import { commonSpec, parseConfig } from '@libs/config';
import { createKafka } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';

const BASE = process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate';
const urlOf = (db: string) => Object.assign(new URL(BASE), { pathname: `/${db}` }).toString();

/** On the server's maintenance database (DATABASE_URL is the scratch database itself while the benchmarks run). */
async function onServer(fn: (c: Client) => Promise<void>): Promise<void> {
  const c = new Client({ connectionString: urlOf('postgres') });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

/** Topic names the benchmarks make: the scratch namespace's, and each benchmark's own namespace (they drop theirs). */
const benchTopic = (id: string) => (name: string) =>
  name.startsWith('burnrate.') && (name.endsWith(`.${id}`) || /\.(bench|e2e)[a-z0-9]+$/.test(name));

async function down(id: string): Promise<void> {
  await onServer(async (c) => {
    for (const db of [`burnrate_${id}`, 'burnrate_bench'])
      await c.query(`drop database if exists ${db} with (force)`);
  });
  const config = parseConfig(commonSpec, process.env);
  const kafka = createKafka(config, 'bench-scratch', new JsonLogger({ service: 'bench' }));
  const admin = kafka.admin();
  await admin.connect();
  let topics: string[] = [];
  try {
    topics = (await admin.listTopics()).filter(benchTopic(id));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
  // their subjects in the registry (`<topic>-value`), soft-deleted then for good; best effort
  const registry = config.SCHEMA_REGISTRY_URL.replace(/\/$/, '');
  let subjects: string[] = [];
  try {
    const res = await fetch(`${registry}/subjects`);
    subjects = ((await res.json()) as string[]).filter((s) => benchTopic(id)(s.replace(/-(value|key)$/, '')));
    for (const s of subjects) {
      await fetch(`${registry}/subjects/${encodeURIComponent(s)}`, { method: 'DELETE' });
      await fetch(`${registry}/subjects/${encodeURIComponent(s)}?permanent=true`, { method: 'DELETE' });
    }
  } catch (err) {
    process.stderr.write(`[bench] registry subjects not removed: ${(err as Error).message}\n`);
  }
  process.stderr.write(
    `[bench] removed database burnrate_${id}, ${topics.length} topics and ${subjects.length} registry subjects\n`,
  );
}

async function main(): Promise<void> {
  const [command, id] = process.argv.slice(2);
  if (!id || !/^[a-z0-9]+$/.test(id))
    throw new Error('usage: scratch.ts up|down <id: lower-case letters and digits>');
  if (command === 'up') {
    await onServer(async (c) => {
      await c.query(`drop database if exists burnrate_${id} with (force)`);
      await c.query(`create database burnrate_${id}`);
    });
    process.stdout.write(`${urlOf(`burnrate_${id}`)}\n`);
  } else if (command === 'down') await down(id);
  else throw new Error(`unknown command ${command}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] ${(err as Error).message}\n`);
  process.exit(1);
});
