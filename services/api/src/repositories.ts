import type { Provider } from '@nestjs/common';
import type { Pool } from 'pg';
import { RouteRepository } from '@libs/alerting';
import { PG_POOL } from '@libs/db';
import { RateCardRepository } from '@libs/pricing-core';
import { PgTeamSettingsRepository } from '@libs/team-settings';

/** The shared libraries' repositories the api's controllers use, each one instance on the api's pool. */
export const LIBRARY_REPOSITORIES: Provider[] = [
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
