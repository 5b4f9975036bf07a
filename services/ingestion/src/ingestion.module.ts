import { Module } from '@nestjs/common';
import { AuthModule } from '@libs/auth';
import { Topics } from '@libs/contracts';
import { DbModule } from '@libs/db';
import { KafkaModule } from '@libs/kafka';
import { ServiceCoreModule } from '@libs/observability';
import { RunsController } from './runs.controller';
import { RunsService } from './runs.service';

export function ingestionModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'ingestion', config }),
      KafkaModule.forRoot({ clientId: 'ingestion', topics: [Topics.runsRaw, Topics.runsRejected] }),
      DbModule,
      AuthModule,
    ],
    controllers: [RunsController],
    providers: [RunsService],
  })
  class IngestionModule {}
  return IngestionModule;
}
