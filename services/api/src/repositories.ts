import type { Provider } from '@nestjs/common';
import type { Pool } from 'pg';
import { RouteRepository } from '@libs/alerting';
import { PG_POOL } from '@libs/db';
import { RateCardRepository, repriceUnpriced } from '@libs/pricing-core';
import { PgTeamSettingsRepository } from '@libs/team-settings';

/** Prices the stored runs that arrived unpriced (POST /v1/models/unpriced/reprice), on the api's pool. */
export class UnpricedRepricer {
  constructor(private readonly pool: Pool) {}

  reprice(): ReturnType<typeof repriceUnpriced> {
    return repriceUnpriced(this.pool);
  }
}

/** The shared libraries' repositories the api's controllers use, each one instance on the api's pool. */
export const LIBRARY_REPOSITORIES: Provider[] = [
  { provide: UnpricedRepricer, useFactory: (pool: Pool) => new UnpricedRepricer(pool), inject: [PG_POOL] },
  {
    provide: RateCardRepository,
    useFactory: (pool: Pool) => new RateCardRepository(pool),
    inject: [PG_POOL],
  },
  {
    provide: PgTeamSettingsRepository,
    useFactory: (pool: Pool) => new PgTeamSettingsRepository(pool),
    inject: [PG_POOL],
  },
  {
    provide: RouteRepository,
    // read at start-up; throws (and the api does not start) on an allow-list entry it cannot read
    useFactory: (pool: Pool) =>
      new RouteRepository(pool, process.env.ROUTES_FILE, {
        allowList: process.env.ALERT_DESTINATION_ALLOWLIST,
      }),
    inject: [PG_POOL],
  },
];
