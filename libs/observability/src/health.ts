export type ReadinessCheck = () => Promise<void>;

/** Null while alive, otherwise why the process should be restarted. */
export type LivenessCheck = () => string | null;

export interface LivenessReport {
  alive: boolean;
  problems: Record<string, string>;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; error?: string }>;
}

/** Readiness: every registered dependency check (Kafka, registry, database, ...) must pass. */
export class Health {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly liveChecks = new Map<string, LivenessCheck>();
  private shuttingDown = false;

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /**
   * Liveness: the process itself is wedged (a consumer crashed for good, a partition stuck) and only a restart helps.
   * Dependencies being down is readiness, never liveness: restarting would not bring PostgreSQL back.
   */
  registerLiveness(name: string, check: LivenessCheck): void {
    this.liveChecks.set(name, check);
  }

  liveness(): LivenessReport {
    const problems: Record<string, string> = {};
    for (const [name, check] of this.liveChecks) {
      const problem = check();
      if (problem !== null) problems[name] = problem;
    }
    return { alive: Object.keys(problems).length === 0, problems };
  }

  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  async readiness(timeoutMs = 3000): Promise<ReadinessReport> {
    const checks: ReadinessReport['checks'] = {};
    if (this.shuttingDown) checks.shutdown = { ok: false, error: 'shutting down' };
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        try {
          await withTimeout(check(), timeoutMs, `${name} check timed out after ${timeoutMs} ms`);
          checks[name] = { ok: true };
        } catch (err) {
          checks[name] = { ok: false, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
