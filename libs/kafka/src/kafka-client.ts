import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { CommonConfig } from '@libs/config';
import type { JsonLogger } from '@libs/observability';
import { ClientCredentialsTokenProvider } from './oauth-token.provider';

export type KafkaSettings = Pick<
  CommonConfig,
  | 'KAFKA_BROKERS'
  | 'KAFKA_CLIENT_ID'
  | 'KAFKA_SSL'
  | 'KAFKA_SSL_CA_FILE'
  | 'KAFKA_SSL_CERT_FILE'
  | 'KAFKA_SSL_KEY_FILE'
  | 'KAFKA_SASL_MECHANISM'
  | 'KAFKA_SASL_USERNAME'
  | 'KAFKA_SASL_PASSWORD'
  | 'KAFKA_OAUTH_TOKEN_URL'
  | 'KAFKA_OAUTH_CLIENT_ID'
  | 'KAFKA_OAUTH_CLIENT_SECRET'
  | 'KAFKA_OAUTH_SCOPE'
>;

/** A kafkajs client from the shared settings, its logs bridged into our JSON logger (warn and above). */
export function createKafka(settings: KafkaSettings, clientId: string, logger?: JsonLogger): Kafka {
  return new Kafka(kafkaConfig(settings, clientId, logger));
}

/** The kafkajs configuration of createKafka. */
export function kafkaConfig(settings: KafkaSettings, clientId: string, logger?: JsonLogger): KafkaConfig {
  return {
    clientId: `${settings.KAFKA_CLIENT_ID}-${clientId}`,
    brokers: settings.KAFKA_BROKERS,
    ssl: tlsOptions(settings),
    sasl: saslOptions(settings, logger),
    connectionTimeout: 5000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 200, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      if (!logger) return;
      const { message, ...extra } = entry.log;
      const level =
        entry.level <= logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : 'debug';
      logger.emit(level, `kafkajs: ${message}`, { namespace: entry.namespace, ...extra });
    },
  };
}

/** Any of the PEM files turns TLS on; without them, KAFKA_SSL decides (the default CAs). */
function tlsOptions(settings: KafkaSettings): KafkaConfig['ssl'] {
  const { KAFKA_SSL_CA_FILE: ca, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: key } = settings;
  if (!ca && !cert && !key) return settings.KAFKA_SSL;
  return { ...(ca && { ca: ca.pem }), ...(cert && { cert: cert.pem }), ...(key && { key: key.pem }) };
}

function saslOptions(settings: KafkaSettings, logger?: JsonLogger): SASLOptions | undefined {
  const mechanism = settings.KAFKA_SASL_MECHANISM;
  if (!mechanism) return undefined;
  if (mechanism !== 'oauthbearer')
    return {
      mechanism,
      username: settings.KAFKA_SASL_USERNAME ?? '',
      password: settings.KAFKA_SASL_PASSWORD ?? '',
    };
  const {
    KAFKA_OAUTH_TOKEN_URL: tokenUrl,
    KAFKA_OAUTH_CLIENT_ID: clientId,
    KAFKA_OAUTH_CLIENT_SECRET: clientSecret,
  } = settings;
  // the configuration already refuses this; kept for settings built by hand
  if (!tokenUrl || !clientId || !clientSecret)
    throw new Error(
      'KAFKA_SASL_MECHANISM=oauthbearer needs KAFKA_OAUTH_TOKEN_URL, KAFKA_OAUTH_CLIENT_ID and KAFKA_OAUTH_CLIENT_SECRET',
    );
  const tokens = new ClientCredentialsTokenProvider(
    {
      tokenUrl,
      clientId,
      clientSecret,
      scope: settings.KAFKA_OAUTH_SCOPE,
      ca: settings.KAFKA_SSL_CA_FILE?.pem,
    },
    {
      onStaleToken: (err) =>
        logger?.warn('OAuth token refresh failed; using the current token until it expires', {
          err: err.message,
        }),
    },
  );
  return { mechanism, oauthBearerProvider: async () => ({ value: await tokens.accessToken() }) };
}
