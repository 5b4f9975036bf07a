import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { apiSpec } from './api.config';
import { apiModule } from './api.module';

runMain('api', async () => {
  const config = loadConfigOrExit(apiSpec);
  await bootstrapService({
    service: 'api',
    module: apiModule(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    openapi: {
      title: 'burnrate API',
      description:
        'Spend breakdowns, call trees, the rate card, team settings and API keys. Amounts are exact decimal strings with their currency.',
      bearerAuth: true,
    },
  });
});
