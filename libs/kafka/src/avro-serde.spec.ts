import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { commonSpec, parseConfig } from '@libs/config';
import { createTestCa, type TestCa } from '../../../test/support/test-ca';
import { AvroSerde, registryAgent, type RegistrySettings } from './avro-serde';

describe(registryAgent.name, () => {
  const defaults: RegistrySettings = parseConfig(commonSpec, {});

  it('is none (the default CAs, NODE_EXTRA_CA_CERTS included) unless SCHEMA_REGISTRY_CA_FILE is set', () => {
    expect(registryAgent(defaults)).toBeUndefined();
  });

  describe('with SCHEMA_REGISTRY_CA_FILE', () => {
    let testCa: TestCa;
    let registry: Server;
    let settings: RegistrySettings;

    beforeAll(async () => {
      testCa = createTestCa();
      registry = createServer({ key: testCa.key, cert: testCa.cert }, (req, res) => {
        const latest = req.url === '/apis/ccompat/v7/subjects/runs-value/versions/latest';
        res
          .writeHead(latest ? 200 : 404, { 'content-type': 'application/vnd.schemaregistry.v1+json' })
          .end(
            JSON.stringify(latest ? { id: 7, subject: 'runs-value', version: 1, schema: '"string"' } : {}),
          );
      });
      await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
      settings = parseConfig(commonSpec, {
        SCHEMA_REGISTRY_URL: `https://127.0.0.1:${(registry.address() as AddressInfo).port}/apis/ccompat/v7`,
        SCHEMA_REGISTRY_CA_FILE: testCa.caFile,
      });
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => registry?.close(() => resolve()));
      testCa?.remove();
    });

    it('is an agent that checks the registry against that CA', () => {
      expect(registryAgent(settings)?.options).toMatchObject({ ca: testCa.ca, keepAlive: true });
    });

    it('is the agent of the registry client', async () => {
      const sut = AvroSerde.client(settings);
      expect(await sut.getLatestSchemaId('runs-value')).toBe(7);
    });
  });
});
