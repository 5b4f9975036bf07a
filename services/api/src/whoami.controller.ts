import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, type Principal, type Role } from '@libs/auth';
import { CONFIG } from '@libs/config';
import type { ApiConfig } from './api.config';

@ApiTags('keys')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class WhoamiController {
  constructor(@Inject(CONFIG) private readonly config: Pick<ApiConfig, 'FX_RATES'>) {}

  @Get('whoami')
  @ApiOperation({
    summary: 'The key a request is made with: its team and role, and the reporting currencies configured',
    description:
      'What a client (the console) needs to know what to show: a team key reads its own team, an admin key every ' +
      'team. `reporting_currencies` are the values `currency` takes (FX_RATES), the rate card’s USD first.',
  })
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: {
        key_id: { type: 'string', format: 'uuid' },
        team: { type: 'string' },
        role: { type: 'string', enum: ['team', 'admin'] },
        reporting_currencies: { type: 'array', items: { type: 'string' }, example: ['USD', 'GBP'] },
      },
    },
  })
  whoami(@CurrentPrincipal() principal: Principal): {
    key_id: string;
    team: string;
    role: Role;
    reporting_currencies: string[];
  } {
    return {
      key_id: principal.keyId,
      team: principal.team,
      role: principal.role,
      reporting_currencies: [...this.config.FX_RATES.currencies],
    };
  }
}
