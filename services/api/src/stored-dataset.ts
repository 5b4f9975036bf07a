import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL } from '@libs/db';
import { JsonLogger } from '@libs/observability';
import { installStoredDataset } from '@libs/pricing-core';

/** How often the api looks for a new stored dataset: as often as pricing looks for rate card changes by default. */
const POLL_MS = 5000;

/**
 * The api matches models too (`GET /v1/rate-card?model=`, `POST /v1/models/unpriced/reprice`): it installs the price
 * dataset stored beside the rate card (seed-rate-card --latest) at start-up and whenever its version changes, as the
 * pricing service does, so both match a model with the data the card's rows came from.
 */
@Injectable()
export class StoredDatasetInstaller implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private version: string | null | undefined;
  private readonly log: JsonLogger;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'rate-card-dataset' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.install();
    this.timer = setInterval(() => void this.install(), POLL_MS);
    this.timer.unref();
  }

  private async install(): Promise<void> {
    try {
      const version = await installStoredDataset(this.pool);
      if (version !== this.version)
        this.log.info('price dataset installed', { dataset: version ?? 'bundled' });
      this.version = version;
    } catch (err) {
      this.log.error('stored price dataset not installed; matching with the dataset in use', { err });
    }
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
