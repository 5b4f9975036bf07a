import { readFileSync } from 'node:fs';

/**
 * Typed configuration, read and validated once at start-up. Every bad variable is collected so the
 * operator sees one message naming all of them, not one per restart.
 */
export type Env = Record<string, string | undefined>;

export interface Field<T> {
  readonly describe: string;
  /** `env` is the whole environment, for the few variables whose meaning depends on another. */
  parse(raw: string | undefined, name: string, env?: Env): T;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

class FieldError extends Error {}

function required(raw: string | undefined, name: string): string {
  if (raw === undefined || raw === '') throw new FieldError(`${name} is required`);
  return raw;
}

export const str = (fallback?: string): Field<string> => ({
  describe: 'string',
  parse: (raw, name) => (raw === undefined || raw === '' ? (fallback ?? required(raw, name)) : raw),
});

export const optionalStr = (): Field<string | undefined> => ({
  describe: 'string',
  parse: (raw) => (raw === undefined || raw === '' ? undefined : raw),
});

export const int = (fallback?: number, bounds: { min?: number; max?: number } = {}): Field<number> => ({
  describe: 'integer',
  parse: (raw, name) => {
    if (raw === undefined || raw === '') {
      if (fallback === undefined) return Number(required(raw, name));
      return fallback;
    }
    if (!/^-?\d+$/.test(raw.trim())) throw new FieldError(`${name} must be an integer, got "${raw}"`);
    const value = Number(raw);
    if (bounds.min !== undefined && value < bounds.min)
      throw new FieldError(`${name} must be >= ${bounds.min}, got ${value}`);
    if (bounds.max !== undefined && value > bounds.max)
      throw new FieldError(`${name} must be <= ${bounds.max}, got ${value}`);
    return value;
  },
});

export const num = (fallback?: number): Field<number> => ({
  describe: 'number',
  parse: (raw, name) => {
    if (raw === undefined || raw === '') return fallback ?? Number(required(raw, name));
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new FieldError(`${name} must be a number, got "${raw}"`);
    return value;
  },
});

export const bool = (fallback: boolean): Field<boolean> => ({
  describe: 'boolean',
  parse: (raw, name) => {
    if (raw === undefined || raw === '') return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new FieldError(`${name} must be true or false, got "${raw}"`);
  },
});

export const list = (fallback: string[]): Field<string[]> => ({
  describe: 'comma-separated list',
  parse: (raw) =>
    raw === undefined || raw.trim() === ''
      ? fallback
      : raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
});

export const oneOf = <T extends string>(values: readonly T[], fallback: T): Field<T> => ({
  describe: values.join('|'),
  parse: (raw, name) => {
    if (raw === undefined || raw === '') return fallback;
    if (!(values as readonly string[]).includes(raw))
      throw new FieldError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
    return raw as T;
  },
});

/** An http(s) URL, or undefined when unset. */
export const optionalUrl = (): Field<string | undefined> => ({
  describe: 'http(s) URL (optional)',
  parse: (raw, name) => {
    if (raw === undefined || raw === '') return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new FieldError(`${name} must be a URL, got "${raw}"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new FieldError(`${name} must be an http or https URL, got "${raw}"`);
    return raw;
  },
});

export const url = (fallback?: string): Field<string> => ({
  describe: 'URL',
  parse: (raw, name) => {
    const value = raw === undefined || raw === '' ? (fallback ?? required(raw, name)) : raw;
    try {
      new URL(value);
    } catch {
      throw new FieldError(`${name} must be a URL, got "${value}"`);
    }
    return value;
  },
});

/** A PEM file named by a variable, read once at start-up. Messages name its path, never its contents. */
export interface PemFile {
  readonly path: string;
  readonly pem: string;
}

/**
 * The path of a PEM file (optional), read at start-up. `pairedWith`: a variable that must be set with this one (a
 * client certificate and its key). `httpsUrl`: a variable holding the URL this CA is for, which must be https.
 */
export const pemFile = (
  rules: { pairedWith?: string; httpsUrl?: string } = {},
): Field<PemFile | undefined> => ({
  describe: 'path of a PEM file (optional)',
  parse: (raw, name, env = {}) => {
    if (raw === undefined || raw === '') return undefined;
    const { pairedWith, httpsUrl } = rules;
    if (pairedWith && !env[pairedWith])
      throw new FieldError(`${name} is set without ${pairedWith}: set both or neither`);
    if (httpsUrl && !/^https:/i.test(env[httpsUrl] ?? ''))
      throw new FieldError(`${name} is set but ${httpsUrl} is not an https URL`);
    let pem: string;
    try {
      pem = readFileSync(raw, 'utf8');
    } catch (err) {
      throw new FieldError(`${name}: cannot read ${raw} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (!pem.includes('-----BEGIN ')) throw new FieldError(`${name}: ${raw} is not a PEM file`);
    return { path: raw, pem };
  },
});

/** `field`, but required when the variable `other` is `value` (compared case-insensitively). */
export const requiredWhen = <T>(field: Field<T>, other: string, value: string): Field<T> => ({
  describe: `${field.describe}, required when ${other}=${value}`,
  parse: (raw, name, env = {}) => {
    if ((raw === undefined || raw === '') && env[other]?.toLowerCase() === value.toLowerCase())
      throw new FieldError(`${name} is required when ${other}=${value}`);
    return field.parse(raw, name, env);
  },
});

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** A SASL mechanism, in any case as kafkajs reads it, or undefined for none. */
const saslMechanism = (): Field<SaslMechanism | undefined> => ({
  describe: `${SASL_MECHANISMS.join('|')} (optional)`,
  parse: (raw, name) => {
    if (raw === undefined || raw === '') return undefined;
    const mechanism = raw.toLowerCase();
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism))
      throw new FieldError(`${name} must be one of ${SASL_MECHANISMS.join(', ')}, got "${raw}"`);
    return mechanism as SaslMechanism;
  },
});

export type Spec = Record<string, Field<unknown>>;
export type ConfigOf<S extends Spec> = { readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never };

/** Parses `env` against `spec`; throws one ConfigError listing every problem. */
export function parseConfig<S extends Spec>(spec: S, env: Env = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(spec)) {
    try {
      out[name] = field.parse(env[name], name, env);
    } catch (err) {
      problems.push(err instanceof FieldError ? err.message : `${name}: ${String(err)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as ConfigOf<S>;
}

/** For main.ts: parse, or print the one message and exit non-zero. */
export function loadConfigOrExit<S extends Spec>(spec: S, env: Env = process.env): ConfigOf<S> {
  try {
    return parseConfig(spec, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        JSON.stringify({
          level: 'fatal',
          time: new Date().toISOString(),
          msg: err.message,
          problems: err.problems,
        }) + '\n',
      );
      process.exit(78);
    }
    throw err;
  }
}

/** The settings every service shares: where Kafka, the registry and PostgreSQL are. */
export const commonSpec = {
  NODE_ENV: oneOf(['development', 'production', 'test'] as const, 'development'),
  LOG_LEVEL: oneOf(['debug', 'info', 'warn', 'error'] as const, 'info'),
  KAFKA_BROKERS: list(['127.0.0.1:9092']),
  KAFKA_CLIENT_ID: str('burnrate'),
  KAFKA_SSL: bool(false),
  /**
   * TLS to the brokers with these PEM files (any of them turns TLS on): the CA the brokers' certificates are checked
   * against, instead of the default ones; a client certificate and its key for mutual TLS (Strimzi `type: tls` users).
   */
  KAFKA_SSL_CA_FILE: pemFile(),
  KAFKA_SSL_CERT_FILE: pemFile({ pairedWith: 'KAFKA_SSL_KEY_FILE' }),
  KAFKA_SSL_KEY_FILE: pemFile({ pairedWith: 'KAFKA_SSL_CERT_FILE' }),
  KAFKA_SASL_MECHANISM: saslMechanism(),
  KAFKA_SASL_USERNAME: optionalStr(),
  KAFKA_SASL_PASSWORD: optionalStr(),
  /** OAUTHBEARER: tokens of the OAuth 2.0 client-credentials grant, the client authenticated by HTTP Basic. */
  KAFKA_OAUTH_TOKEN_URL: requiredWhen(optionalUrl(), 'KAFKA_SASL_MECHANISM', 'oauthbearer'),
  KAFKA_OAUTH_CLIENT_ID: requiredWhen(optionalStr(), 'KAFKA_SASL_MECHANISM', 'oauthbearer'),
  KAFKA_OAUTH_CLIENT_SECRET: requiredWhen(optionalStr(), 'KAFKA_SASL_MECHANISM', 'oauthbearer'),
  KAFKA_OAUTH_SCOPE: optionalStr(),
  KAFKA_TOPIC_PARTITIONS: int(6, { min: 1 }),
  KAFKA_REPLICATION_FACTOR: int(1, { min: 1 }),
  /** How long a crashed consumer keeps its partitions before the group moves them. */
  KAFKA_SESSION_TIMEOUT_MS: int(30000, { min: 6000 }),
  /**
   * A fetch waits until this many bytes are ready (or KAFKA_FETCH_MAX_WAIT_MS has passed): under load every batch, and so
   * every transaction, changelog write and database write, carries more runs; when quiet a run waits at most the max.
   */
  KAFKA_FETCH_MIN_BYTES: int(1, { min: 1 }),
  KAFKA_FETCH_MAX_WAIT_MS: int(100, { min: 1 }),
  /** Compression of what the consumers write to Kafka (runs.priced, agent-stats, anomalies, changelogs). */
  KAFKA_COMPRESSION: oneOf(['none', 'gzip'] as const, 'none'),
  /** A record that fails on its own this many times goes to the dead-letter topic; the rest of its batch commits. */
  KAFKA_RECORD_MAX_ATTEMPTS: int(3, { min: 1, max: 100 }),
  /** Longest wait between retries while a dependency (PostgreSQL, Kafka, the registry) is down. */
  KAFKA_RETRY_MAX_BACKOFF_MS: int(30000, { min: 100 }),
  /** How often consumer lag is measured from committed offsets against the high watermark. */
  KAFKA_LAG_INTERVAL_MS: int(15000, { min: 1000 }),
  /** Liveness fails when a partition with lag has not progressed for this long (0: never), so Kubernetes restarts. */
  KAFKA_STALL_LIVENESS_S: int(300, { min: 0 }),
  SCHEMA_REGISTRY_URL: url('http://127.0.0.1:8085/apis/ccompat/v7'),
  SCHEMA_REGISTRY_USERNAME: optionalStr(),
  SCHEMA_REGISTRY_PASSWORD: optionalStr(),
  /** The CA the registry's certificate is checked against, instead of the default ones (an https URL). */
  SCHEMA_REGISTRY_CA_FILE: pemFile({ httpsUrl: 'SCHEMA_REGISTRY_URL' }),
  /** PostgreSQL cancels a statement of this service after this many seconds (0: never), freeing its backend. */
  DB_STATEMENT_TIMEOUT_S: int(30, { min: 0, max: 3600 }),
  DATABASE_URL: url('postgres://postgres:postgres@127.0.0.1:5432/burnrate'),
  /**
   * The CA PostgreSQL's certificate is checked against, instead of the default ones: given to pg as DATABASE_URL's
   * `sslrootcert`, so TLS is on unless DATABASE_URL says `sslmode=disable`.
   */
  DATABASE_CA_FILE: pemFile(),
  SHUTDOWN_TIMEOUT_MS: int(15000, { min: 0 }),
} satisfies Spec;

export type CommonConfig = ConfigOf<typeof commonSpec>;

/** Injection token of a service's validated configuration object. */
export const CONFIG = Symbol.for('burnrate.config');
