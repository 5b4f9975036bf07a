import { Module } from '@nestjs/common';
import { AuthModule } from '@libs/auth';
import { DbModule } from '@libs/db';
import { ServiceCoreModule } from '@libs/observability';
import { AdminController } from './admin.controller';
import { AnomaliesController } from './anomalies.controller';
import { BacktestController } from './backtest.controller';
import { SpendController } from './spend.controller';
import { StoredDatasetInstaller } from './stored-dataset';

export function apiModule(config: object) {
  @Module({
    imports: [ServiceCoreModule.forRoot({ service: 'api', config }), DbModule, AuthModule],
    controllers: [SpendController, AdminController, AnomaliesController, BacktestController],
    providers: [StoredDatasetInstaller],
  })
  class ApiModule {}
  return ApiModule;
}
