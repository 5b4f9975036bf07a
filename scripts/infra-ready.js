#!/usr/bin/env node
// Readiness probe for the local stack: `node scripts/infra-ready.js kafka|registry|postgres|all`.
// Ready means ready: Kafka acknowledges a produce (acks=all), the registry lists subjects, PostgreSQL answers a query.
'use strict';
// kafkajs on Node 24 trips a harmless TimeoutNegativeWarning in its request queue; keep the probe's output clean.
process.removeAllListeners('warning');
const { Kafka, logLevel } = require('kafkajs');
const { Client } = require('pg');

const brokers = (process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`).split(',');
const registry =
  process.env.SCHEMA_REGISTRY_URL || `http://127.0.0.1:${process.env.REGISTRY_PORT || 8085}/apis/ccompat/v7`;
const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres:postgres@127.0.0.1:5432/burnrate';

async function kafka() {
  const client = new Kafka({
    clientId: 'burnrate-infra-ready',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  });
  const admin = client.admin();
  const producer = client.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
  try {
    await admin.connect();
    const topic = 'burnrate.infra.ready';
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) {
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
        waitForLeaders: true,
      });
    }
    await producer.connect();
    await producer.send({ topic, acks: -1, timeout: 5000, messages: [{ value: String(Date.now()) }] });
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

async function registryCheck() {
  const res = await fetch(`${registry}/subjects`, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`registry answered ${res.status}`);
  const body = await res.json();
  if (!Array.isArray(body)) throw new Error('registry /subjects is not a list');
}

async function postgres() {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query('select 1');
  } finally {
    await client.end();
  }
}

const checks = { kafka, registry: registryCheck, postgres };
const which = process.argv[2] || 'all';
const run = which === 'all' ? Object.values(checks) : [checks[which]];
if (run.some((c) => !c)) {
  console.error(`unknown check ${which}`);
  process.exit(2);
}
Promise.all(run.map((c) => c()))
  .then(() => process.exit(0))
  .catch((err) => {
    if (process.env.INFRA_READY_VERBOSE) console.error(err);
    process.exit(1);
  });
