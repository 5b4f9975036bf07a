import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { alertRouterSpec } from './alert-router.config';
import { alertRouterModule } from './alert-router.module';

runMain('alert-router', async () => {
  const config = loadConfigOrExit(alertRouterSpec);
  await bootstrapService({
    service: 'alert-router',
    module: alertRouterModule(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
