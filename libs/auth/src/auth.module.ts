import { Global, Module } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG } from '@libs/config';
import { PG_POOL } from '@libs/db';
import { ApiKeyRepository } from './api-key.repository';
import { API_KEYS, ApiKeyGuard } from './auth.guard';
import { REQUEST_LIMITS, RequestLimits, type RateLimitConfig } from './request-limits';

@Global()
@Module({
  providers: [
    { provide: API_KEYS, inject: [PG_POOL], useFactory: (pool: Pool) => new ApiKeyRepository(pool) },
    {
      provide: REQUEST_LIMITS,
      inject: [CONFIG],
      useFactory: (config: Partial<RateLimitConfig>) => RequestLimits.fromConfig(config),
    },
    ApiKeyGuard,
  ],
  exports: [API_KEYS, REQUEST_LIMITS, ApiKeyGuard],
})
export class AuthModule {}
