import { Module } from '@nestjs/common';
import { AuthModule } from '@libs/auth';
import { DbModule } from '@libs/db';
import { ServiceCoreModule, type ServiceAppOptions } from '@libs/observability';
import { AdminController } from './admin.controller';
import { AnomaliesController } from './anomalies.controller';
import { AnomaliesRepository } from './anomalies.repository';
import { BacktestController } from './backtest.controller';
import type { ApiConfig } from './api.config';
import { API_SCHEMAS } from './body-schemas';
import { currencyEnum } from './http';
import { GuardModule } from './guard/guard.module';
import { GUARD_SCHEMAS } from './guard/guard.schemas';
import { ConsoleModule } from './console/console.module';
import { LIBRARY_REPOSITORIES } from './repositories';
import { RunsController } from './runs.controller';
import { RunsRepository } from './runs.repository';
import { BacktestRepository } from './backtest.repository';
import { SpendController } from './spend.controller';
import { SpendRepository } from './spend.repository';
import { StoredDatasetInstaller } from './stored-dataset';
import { WhoamiController } from './whoami.controller';

/** The largest body the api reads; its largest valid body (settings with 100 budgets of long customer ids) is under 40 KiB. */
export const MAX_BODY_BYTES = 64 * 1024;

export function apiModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'api', config }),
      DbModule,
      AuthModule,
      GuardModule,
      ConsoleModule,
    ],
    controllers: [
      SpendController,
      AdminController,
      AnomaliesController,
      BacktestController,
      RunsController,
      WhoamiController,
    ],
    providers: [
      StoredDatasetInstaller,
      AnomaliesRepository,
      RunsRepository,
      SpendRepository,
      BacktestRepository,
      ...LIBRARY_REPOSITORIES,
    ],
  })
  class ApiModule {}
  return ApiModule;
}

/** The api as an HTTP application (main.ts starts it; specs build it in-process): its module, body limit and OpenAPI. */
export function apiApp(config: Pick<ApiConfig, 'FX_RATES'>): ServiceAppOptions {
  return {
    service: 'api',
    module: apiModule(config),
    bodyLimit: MAX_BODY_BYTES,
    openapi: {
      title: 'burnrate API',
      description:
        'Spend breakdowns, call trees, the rate card, team settings and API keys. Amounts are exact decimal strings with their currency.',
      bearerAuth: true,
      schemas: { ...API_SCHEMAS, ...GUARD_SCHEMAS },
      complete: (document) => currencyEnum(document, config.FX_RATES),
    },
  };
}
