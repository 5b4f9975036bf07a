import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { ingestionSpec } from './ingestion.config';
import { ingestionApp } from './ingestion.module';
import { OtelTraceConsumer } from './otlp/otel-trace.consumer';

async function main(): Promise<void> {
  const config = loadConfigOrExit(ingestionSpec);
  const app = await bootstrapService({
    ...ingestionApp(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
  await app.get(OtelTraceConsumer).start();
}

runMain('ingestion', main);
