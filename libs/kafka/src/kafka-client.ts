import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { CommonConfig } from '@libs/config';
import type { JsonLogger } from '@libs/observability';

export type KafkaSettings = Pick<
  CommonConfig,
  | 'KAFKA_BROKERS'
  | 'KAFKA_CLIENT_ID'
  | 'KAFKA_SSL'
  | 'KAFKA_SASL_MECHANISM'
  | 'KAFKA_SASL_USERNAME'
  | 'KAFKA_SASL_PASSWORD'
>;

/** A kafkajs client from the shared settings, its logs bridged into our JSON logger (warn and above). */
export function createKafka(settings: KafkaSettings, clientId: string, logger?: JsonLogger): Kafka {
  const config: KafkaConfig = {
    clientId: `${settings.KAFKA_CLIENT_ID}-${clientId}`,
    brokers: settings.KAFKA_BROKERS,
    ssl: settings.KAFKA_SSL,
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
  if (settings.KAFKA_SASL_MECHANISM) {
    config.sasl = {
      mechanism: settings.KAFKA_SASL_MECHANISM,
      username: settings.KAFKA_SASL_USERNAME ?? '',
      password: settings.KAFKA_SASL_PASSWORD ?? '',
    } as SASLOptions;
  }
  return new Kafka(config);
}
