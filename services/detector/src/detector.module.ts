import { Module } from '@nestjs/common';
import { Topics } from '@libs/contracts';
import { DbModule } from '@libs/db';
import { KafkaModule } from '@libs/kafka';
import { ServiceCoreModule } from '@libs/observability';
import { AGENT_CHANGELOG, DetectorService, TEAM_CHANGELOG } from './detector.service';

export function detectorModule(config: object) {
  @Module({
    imports: [
      ServiceCoreModule.forRoot({ service: 'detector', config }),
      KafkaModule.forRoot({
        clientId: 'detector',
        topics: [
          Topics.agentStats,
          Topics.teamSpend,
          Topics.anomalies,
          Topics.agentControls,
          AGENT_CHANGELOG,
          TEAM_CHANGELOG,
        ],
        producer: false,
      }),
      DbModule,
    ],
    providers: [DetectorService],
  })
  class DetectorModule {}
  return DetectorModule;
}
