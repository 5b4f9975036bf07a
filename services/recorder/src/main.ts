import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { recorderSpec } from './recorder.config';
import { recorderModule } from './recorder.module';

runMain('recorder', async () => {
  const config = loadConfigOrExit(recorderSpec);
  await bootstrapService({
    service: 'recorder',
    module: recorderModule(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
