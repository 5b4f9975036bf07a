import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { apiSpec } from './api.config';
import { apiModule } from './api.module';
import { API_SCHEMAS } from './body-schemas';
import { bodyValidator } from './validate-body.pipe';

/** The largest body the api reads; its largest valid body (settings with 100 budgets of long customer ids) is under 40 KiB. */
const MAX_BODY_BYTES = 64 * 1024;

runMain('api', async () => {
  const config = loadConfigOrExit(apiSpec);
  bodyValidator(); // compiles every body schema now: a schema ajv refuses stops the start, not a request
  await bootstrapService({
    service: 'api',
    module: apiModule(config),
    port: config.PORT,
    bodyLimit: MAX_BODY_BYTES,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    openapi: {
      title: 'burnrate API',
      description:
        'Spend breakdowns, call trees, the rate card, team settings and API keys. Amounts are exact decimal strings with their currency.',
      bearerAuth: true,
      schemas: API_SCHEMAS,
    },
  });
});
