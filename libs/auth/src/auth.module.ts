import { Global, Module } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL } from '@libs/db';
import { ApiKeyRepository } from './api-key.repository';
import { API_KEYS, ApiKeyGuard } from './auth.guard';

@Global()
@Module({
  providers: [
    { provide: API_KEYS, inject: [PG_POOL], useFactory: (pool: Pool) => new ApiKeyRepository(pool) },
    ApiKeyGuard,
  ],
  exports: [API_KEYS, ApiKeyGuard],
})
export class AuthModule {}
