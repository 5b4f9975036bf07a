import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { ingestionSpec } from './ingestion.config';
import { ingestionApp } from './ingestion.module';

async function main(): Promise<void> {
  const config = loadConfigOrExit(ingestionSpec);
  await bootstrapService({
    ...ingestionApp(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
}

runMain('ingestion', main);
