import { Module } from '@nestjs/common';
import { Topics } from '@libs/contracts';
import { DbModule } from '@libs/db';
import { KafkaModule } from '@libs/kafka';
import { ServiceCoreModule } from '@libs/observability';
import { RecorderService } from './recorder.service';

export function recorderModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'recorder', config }),
      KafkaModule.forRoot({
        clientId: 'recorder',
        topics: [Topics.runsPriced, Topics.agentStats, Topics.anomalies, Topics.alertDeliveries],
        producer: false,
      }),
      DbModule,
    ],
    providers: [RecorderService],
  })
  class RecorderModule {}
  return RecorderModule;
}
