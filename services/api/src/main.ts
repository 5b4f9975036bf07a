import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { apiSpec } from './api.config';
import { apiApp } from './api.module';
import { bodyValidator } from './validate-body.pipe';

runMain('api', async () => {
  const config = loadConfigOrExit(apiSpec);
  bodyValidator(); // compiles every body schema now: a schema ajv refuses stops the start, not a request
  await bootstrapService({
    ...apiApp(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
