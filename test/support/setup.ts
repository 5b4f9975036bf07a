// Integration tests talk to a real broker, registry and database: allow for their latencies.
jest.setTimeout(120_000);
// kafkajs on Node 24 emits a harmless TimeoutNegativeWarning from its request queue.
process.removeAllListeners('warning');
