import { DynamicModule, Global, Module } from '@nestjs/common';
import { CONFIG } from '@libs/config';
import { Health } from './health';
import { JsonLogger } from './logger';
import { Metrics } from './metrics';

export interface CoreOptions {
  /** Service name: on every log line (service) and metric (burnrate_service). */
  service: string;
  /** The service's validated configuration object, provided as CONFIG. */
  config: object;
}

/** What every service process has: its config, logger, metrics registry and readiness checks. */
@Global()
@Module({})
export class ServiceCoreModule {
  static forRoot(options: CoreOptions): DynamicModule {
    const logger = new JsonLogger({ service: options.service });
    return {
      module: ServiceCoreModule,
      providers: [
        { provide: CONFIG, useValue: options.config },
        { provide: JsonLogger, useValue: logger },
        { provide: Metrics, useValue: new Metrics(options.service) },
        { provide: Health, useValue: new Health() },
      ],
      exports: [CONFIG, JsonLogger, Metrics, Health],
    };
  }
}
