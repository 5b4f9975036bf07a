import { Module } from '@nestjs/common';
import { AuthModule } from '@libs/auth';
import type { ConfigOf } from '@libs/config';
import { Topics } from '@libs/contracts';
import { DbModule } from '@libs/db';
import { KafkaModule } from '@libs/kafka';
import { ServiceCoreModule, type ServiceAppOptions } from '@libs/observability';
import type { ingestionSpec } from './ingestion.config';
import { OtelTraceConsumer } from './otlp/otel-trace.consumer';
import { OtlpBodyParsing } from './otlp/otlp-body';
import { OtlpController } from './otlp/otlp.controller';
import { OtlpService } from './otlp/otlp.service';
import { RunsController, runsBodySchemas } from './runs.controller';
import { RunsService } from './runs.service';

export function ingestionModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'ingestion', config }),
      KafkaModule.forRoot({
        clientId: 'ingestion',
        topics: [Topics.runsRaw, Topics.runsRejected, Topics.otelSpans],
      }),
      DbModule,
      AuthModule,
    ],
    controllers: [RunsController, OtlpController],
    providers: [RunsService, OtlpService, OtlpBodyParsing, OtelTraceConsumer],
  })
  class IngestionModule {}
  return IngestionModule;
}

/**
 * Ingestion as an HTTP application (main.ts starts it; specs build it in-process): its module, and a body limit and
 * OpenAPI document that say the configured MAX_BODY_BYTES and MAX_BATCH_RUNS.
 */
export function ingestionApp(config: ConfigOf<typeof ingestionSpec>): ServiceAppOptions {
  return {
    service: 'ingestion',
    module: ingestionModule(config),
    bodyLimit: config.MAX_BODY_BYTES,
    openapi: {
      title: 'burnrate ingestion',
      description: 'Record agent runs. Pricing happens server-side: never send a cost.',
      bearerAuth: true,
      schemas: runsBodySchemas(config.MAX_BATCH_RUNS),
    },
  };
}
