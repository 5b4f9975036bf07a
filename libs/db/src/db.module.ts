import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type CommonConfig } from '@libs/config';
import { Health } from '@libs/observability';
import { createPool } from './pool';

export const PG_POOL = Symbol.for('burnrate.pg.pool');

@Injectable()
class PoolLifecycle implements OnApplicationShutdown {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

/** Provides the pg Pool (PG_POOL) and registers the database readiness check. */
@Global()
@Module({
  providers: [
    {
      provide: PG_POOL,
      inject: [CONFIG, Health],
      useFactory: (config: CommonConfig, health: Health) => {
        const pool = createPool(config.DATABASE_URL, {
          statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_S * 1000,
          caFile: config.DATABASE_CA_FILE?.path,
        });
        health.register('database', async () => {
          await pool.query('select 1');
        });
        return pool;
      },
    },
    PoolLifecycle,
  ],
  exports: [PG_POOL],
})
export class DbModule {}
