import { loadConfigOrExit } from '@libs/config';
import { bootstrapService, runMain } from '@libs/observability';
import { detectorSpec } from './detector.config';
import { detectorModule } from './detector.module';

runMain('detector', async () => {
  const config = loadConfigOrExit(detectorSpec);
  await bootstrapService({
    service: 'detector',
    module: detectorModule(config),
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
});
