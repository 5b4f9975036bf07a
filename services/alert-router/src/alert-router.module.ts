import { Module } from '@nestjs/common';
import { Topics } from '@libs/contracts';
import { DbModule } from '@libs/db';
import { KafkaModule } from '@libs/kafka';
import { ServiceCoreModule } from '@libs/observability';
import { AnomalyConsumer } from './anomaly.consumer';
import { DeliveryWorker } from './delivery.worker';

export function alertRouterModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'alert-router', config }),
      KafkaModule.forRoot({ clientId: 'alert-router', topics: [Topics.anomalies, Topics.alertDeliveries] }),
      DbModule,
    ],
    providers: [AnomalyConsumer, DeliveryWorker],
  })
  class AlertRouterModule {}
  return AlertRouterModule;
}
