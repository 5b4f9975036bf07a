import { DynamicModule, Module } from '@nestjs/common';
import { KAFKA_MODULE_OPTIONS, KafkaService, type KafkaModuleOptions } from './kafka.service';

@Module({})
export class KafkaModule {
  static forRoot(options: KafkaModuleOptions): DynamicModule {
    return {
      module: KafkaModule,
      global: true,
      providers: [{ provide: KAFKA_MODULE_OPTIONS, useValue: options }, KafkaService],
      exports: [KafkaService],
    };
  }
}
