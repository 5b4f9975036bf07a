import { Module } from '@nestjs/common';
import { AgentControlsKafka } from './agent-controls.kafka';
import { ControlView } from './core/control-view';
import { GuardBlocksRepository } from './guard-blocks.repository';
import { GuardController } from './guard.controller';
import { GuardService } from './guard.service';

/**
 * The guard's api half: GET /v1/guard from the in-memory view of the agent-controls topic, and manual blocks
 * (POST/GET/DELETE /v1/guard/blocks). Needs the core, database and auth modules the api imports.
 */
@Module({
  controllers: [GuardController],
  providers: [
    { provide: ControlView, useFactory: () => new ControlView() },
    AgentControlsKafka,
    GuardBlocksRepository,
    GuardService,
  ],
})
export class GuardModule {}
