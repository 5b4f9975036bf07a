import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { pricingSpec } from './pricing.config';
import { pricingModule } from './pricing.module';

runMain('pricing', async () => {
  const config = loadConfigOrExit(pricingSpec);
  await bootstrapService({
    service: 'pricing',
    module: pricingModule(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
