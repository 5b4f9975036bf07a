import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OauthbearerProviderResponse } from 'kafkajs';
import { commonSpec, parseConfig, type PemFile } from '@libs/config';
import { kafkaConfig, type KafkaSettings } from './kafka-client';

const pem = (path: string, label: string): PemFile => ({
  path,
  pem: `-----BEGIN ${label}-----\n${path}\n-----END ${label}-----\n`,
});

describe(kafkaConfig.name, () => {
  const defaults: KafkaSettings = parseConfig(commonSpec, {});
  const settings = (overrides: Partial<KafkaSettings>): KafkaSettings => ({ ...defaults, ...overrides });

  it('connects in plain text, or with TLS and the default CAs, as KAFKA_SSL says', () => {
    expect(kafkaConfig(defaults, 'svc')).toMatchObject({ clientId: 'burnrate-svc', ssl: false });
    expect(kafkaConfig(defaults, 'svc').sasl).toBeUndefined();
    expect(kafkaConfig(settings({ KAFKA_SSL: true }), 'svc').ssl).toBe(true);
  });

  it('gives kafkajs the CA, the client certificate and its key for mutual TLS, whatever KAFKA_SSL says', () => {
    const ca = pem('/etc/kafka/ca.crt', 'CERTIFICATE');
    const cert = pem('/etc/kafka/user.crt', 'CERTIFICATE');
    const key = pem('/etc/kafka/user.key', 'PRIVATE KEY');

    const sut = kafkaConfig(
      settings({ KAFKA_SSL_CA_FILE: ca, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: key }),
      'svc',
    );

    expect(sut.ssl).toEqual({ ca: ca.pem, cert: cert.pem, key: key.pem });
    expect(kafkaConfig(settings({ KAFKA_SSL_CA_FILE: ca }), 'svc').ssl).toEqual({ ca: ca.pem });
  });

  it('passes the user and password of PLAIN and SCRAM', () => {
    const sut = kafkaConfig(
      settings({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }),
      'svc',
    );
    expect(sut.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'u', password: 'p' });
  });

  describe('OAUTHBEARER', () => {
    let server: Server;
    let requests = 0;
    let tokenUrl: string;

    beforeAll(async () => {
      server = createServer((req, res) => {
        requests++;
        req
          .resume()
          .on('end', () =>
            res
              .writeHead(200, { 'content-type': 'application/json' })
              .end(JSON.stringify({ access_token: `token-${requests}`, expires_in: 300 })),
          );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('hands kafkajs a provider of client-credentials tokens, fetched once and reused', async () => {
      const sut = kafkaConfig(
        settings({
          // the Kafka CA is for an https token endpoint only
          KAFKA_SSL_CA_FILE: pem('/etc/kafka/ca.crt', 'CERTIFICATE'),
          KAFKA_SASL_MECHANISM: 'oauthbearer',
          KAFKA_OAUTH_TOKEN_URL: tokenUrl,
          KAFKA_OAUTH_CLIENT_ID: 'burnrate',
          KAFKA_OAUTH_CLIENT_SECRET: 's3cret',
        }),
        'svc',
      );

      const sasl = sut.sasl as {
        mechanism: string;
        oauthBearerProvider: () => Promise<OauthbearerProviderResponse>;
      };
      expect(sasl.mechanism).toBe('oauthbearer');
      expect(await sasl.oauthBearerProvider()).toEqual({ value: 'token-1' });
      expect(await sasl.oauthBearerProvider()).toEqual({ value: 'token-1' });
      expect(requests).toBe(1);
    });

    it('refuses settings without the client', () => {
      expect(() =>
        kafkaConfig(
          settings({ KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_OAUTH_TOKEN_URL: tokenUrl }),
          'svc',
        ),
      ).toThrow(
        'KAFKA_SASL_MECHANISM=oauthbearer needs KAFKA_OAUTH_TOKEN_URL, KAFKA_OAUTH_CLIENT_ID and KAFKA_OAUTH_CLIENT_SECRET',
      );
    });
  });
});
