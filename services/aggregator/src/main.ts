import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { aggregatorSpec } from './aggregator.config';
import { aggregatorModule } from './aggregator.module';

runMain('aggregator', async () => {
  const config = loadConfigOrExit(aggregatorSpec);
  await bootstrapService({
    service: 'aggregator',
    module: aggregatorModule(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
