import { Module } from '@nestjs/common';
import { Topics } from '@libs/contracts';
import { DbModule } from '@libs/db';
import { KafkaModule } from '@libs/kafka';
import { ServiceCoreModule } from '@libs/observability';
import { AggregatorService, STATE_CHANGELOG } from './aggregator.service';

export function aggregatorModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'aggregator', config }),
      KafkaModule.forRoot({
        clientId: 'aggregator',
        topics: [Topics.runsPriced, Topics.agentStats, Topics.teamSpend, STATE_CHANGELOG],
        producer: false,
      }),
      DbModule,
    ],
    providers: [AggregatorService],
  })
  class AggregatorModule {}
  return AggregatorModule;
}
