/**
 * One-shot set-up of a burnrate installation (the Kubernetes migration Job runs this; so does `npm run up`):
 * database migrations, Kafka topics, Avro schema registration, the rate card's first seed, and the detector's state
 * carried over from 0.2's single changelog (carry-detector-state.ts).
 *
 * `--timescaledb`: the database migrations, then a database that started on plain PostgreSQL converted to what a fresh
 * install on TimescaleDB is (libs/db/src/timescale.ts); nothing else.
 */
import { commonSpec, loadConfigOrExit } from '@libs/config';
import { Topics, defaultSchemaDir, detectorTopics, loadSchemas } from '@libs/contracts';
import { convertToTimescale, createPool, runMigrations } from '@libs/db';
import { seedRateCardIfEmpty } from '@libs/pricing-core';
import { AvroSerde, createKafka, provisionTopics } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { carryDetectorState } from './carry-detector-state';

export async function migrate(): Promise<void> {
  const config = loadConfigOrExit(commonSpec);
  const log = new JsonLogger({ service: 'migrate' });
  const applied = await runMigrations(config.DATABASE_URL, config.DATABASE_CA_FILE?.path);
  log.info('database migrated', { applied });
  if (process.argv.includes('--timescaledb')) {
    // a database that started on plain PostgreSQL, converted: the same schema as a fresh install on TimescaleDB
    const state = await convertToTimescale(config.DATABASE_URL, config.DATABASE_CA_FILE?.path);
    log.info('converted to TimescaleDB', { ...state });
    return;
  }

  const kafka = createKafka(config, 'migrate', log);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { agents, teams } = detectorTopics();
    const created = await provisionTopics(admin, config, [...Object.values(Topics), agents, teams]);
    log.info('topics provisioned', { created });
  } finally {
    await admin.disconnect();
  }
  await carryDetectorState(kafka, log);

  const schemas = loadSchemas(defaultSchemaDir());
  const withSchemas = Object.values(Topics).filter((t) => t.valueSchema && schemas.has(t.valueSchema));
  const serde = await AvroSerde.create(config, withSchemas);
  log.info('schemas registered', {
    subjects: withSchemas.map((t) => `${t.name}-value=${serde.schemaId(t)}`),
  });

  const pool = createPool(config.DATABASE_URL, { max: 2, caFile: config.DATABASE_CA_FILE?.path });
  try {
    log.info('rate card seeded', { rows: await seedRateCardIfEmpty(pool) });
  } finally {
    await pool.end();
  }
}

if (require.main === module) {
  migrate().catch((err: unknown) => {
    process.stderr.write(
      JSON.stringify({ level: 'fatal', msg: 'migration failed', err: String((err as Error).stack ?? err) }) +
        '\n',
    );
    process.exit(1);
  });
}
