import { Module } from '@nestjs/common';
import { Topics } from '@libs/contracts';
import { DbModule } from '@libs/db';
import { KafkaModule } from '@libs/kafka';
import { ServiceCoreModule } from '@libs/observability';
import { PricingService } from './pricing.service';

export function pricingModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'pricing', config }),
      KafkaModule.forRoot({
        clientId: 'pricing',
        topics: [Topics.runsRaw, Topics.runsPriced, Topics.runsRejected],
        producer: false,
      }),
      DbModule,
    ],
    providers: [PricingService],
  })
  class PricingModule {}
  return PricingModule;
}
