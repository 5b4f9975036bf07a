import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { ingestionSpec } from './ingestion.config';
import { ingestionModule } from './ingestion.module';

async function main(): Promise<void> {
  const config = loadConfigOrExit(ingestionSpec);
  await bootstrapService({
    service: 'ingestion',
    module: ingestionModule(config),
    port: config.PORT,
    bodyLimit: config.MAX_BODY_BYTES,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    openapi: {
      title: 'burnrate ingestion',
      description: 'Record agent runs. Pricing happens server-side: never send a cost.',
      bearerAuth: true,
    },
  });
}

runMain('ingestion', main);
