import { Agent } from 'node:https';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import * as avro from 'avsc';
import { loadSchemas, type NamedSchema, type TopicSpec } from '@libs/contracts';
import type { CommonConfig } from '@libs/config';

export type RegistrySettings = Pick<
  CommonConfig,
  'SCHEMA_REGISTRY_URL' | 'SCHEMA_REGISTRY_USERNAME' | 'SCHEMA_REGISTRY_PASSWORD' | 'SCHEMA_REGISTRY_CA_FILE'
>;

/** With SCHEMA_REGISTRY_CA_FILE, the agent whose connections check the registry's certificate against that CA alone. */
export function registryAgent(settings: RegistrySettings): Agent | undefined {
  const ca = settings.SCHEMA_REGISTRY_CA_FILE;
  return ca ? new Agent({ ca: ca.pem, keepAlive: true }) : undefined;
}

const MAGIC = 0;

export class SerdeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SerdeError';
  }
}

interface Registered {
  id: number;
  type: avro.Type;
}

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary). Schemas come from
 * schemas/*.avsc, are registered once at start-up under `<topic>-value` with BACKWARD compatibility, and their ids
 * are resolved once: encoding is synchronous. Decoding resolves the writer's schema by id (fetched once, cached) into
 * our reader schema, so producers on an older compatible schema are read correctly.
 */
export class AvroSerde {
  private readonly byTopic = new Map<string, Registered>();
  private readonly readers = new Map<string, avro.Type>();
  private readonly resolvers = new Map<string, avro.Type | object>();
  private readonly writers = new Map<number, avro.Type>();
  private scratch = Buffer.allocUnsafe(64 * 1024);

  private constructor(
    readonly registry: SchemaRegistry,
    private readonly schemas: Map<string, NamedSchema>,
  ) {}

  static client(settings: RegistrySettings): SchemaRegistry {
    return new SchemaRegistry({
      host: settings.SCHEMA_REGISTRY_URL,
      auth: settings.SCHEMA_REGISTRY_USERNAME
        ? { username: settings.SCHEMA_REGISTRY_USERNAME, password: settings.SCHEMA_REGISTRY_PASSWORD ?? '' }
        : undefined,
      retry: { retries: 5, initialRetryTimeInSecs: 0.2 },
      agent: registryAgent(settings),
    });
  }

  /** Registers the value schema of each topic (idempotent: same schema, same id) and returns a ready serde. */
  static async create(
    settings: RegistrySettings,
    topics: readonly TopicSpec[],
    schemaDir?: string,
  ): Promise<AvroSerde> {
    const serde = new AvroSerde(AvroSerde.client(settings), loadSchemas(schemaDir));
    for (const topic of topics) await serde.register(topic);
    return serde;
  }

  private async register(topic: TopicSpec): Promise<void> {
    if (!topic.valueSchema || this.byTopic.has(topic.name)) return;
    const named = this.schemas.get(topic.valueSchema);
    if (!named) throw new SerdeError(`no schema ${topic.valueSchema} in schemas/ for topic ${topic.name}`);
    const { id } = await this.registry.register(
      { type: 'AVRO' as never, schema: JSON.stringify(named.schema) },
      { subject: `${topic.name}-value` },
    );
    const type = this.readerType(named.fullName);
    this.byTopic.set(topic.name, { id, type });
    this.writers.set(id, type);
  }

  private readerType(fullName: string): avro.Type {
    let type = this.readers.get(fullName);
    if (!type) {
      const named = this.schemas.get(fullName);
      if (!named) throw new SerdeError(`no schema ${fullName} in schemas/`);
      type = avro.Type.forSchema(named.schema as avro.Schema, { wrapUnions: false });
      this.readers.set(fullName, type);
    }
    return type;
  }

  schemaId(topic: TopicSpec): number {
    const registered = this.byTopic.get(topic.name);
    if (!registered) throw new SerdeError(`topic ${topic.name} was not registered with this serde`);
    return registered.id;
  }

  /** Encodes `value` with the topic's registered schema; throws SerdeError naming the invalid paths. */
  encode(topic: TopicSpec, value: unknown): Buffer {
    const registered = this.byTopic.get(topic.name);
    if (!registered) throw new SerdeError(`topic ${topic.name} was not registered with this serde`);
    let end: number;
    try {
      end = registered.type.encode(value, this.scratch, 5);
      while (end < 0) {
        // avsc answers with minus the bytes missing
        this.scratch = Buffer.allocUnsafe(Math.max(2 * this.scratch.length, this.scratch.length - end));
        end = registered.type.encode(value, this.scratch, 5);
      }
    } catch {
      const paths: string[] = [];
      registered.type.isValid(value, { errorHook: (path) => paths.push(path.join('.') || '(root)') });
      throw new SerdeError(
        `value does not match ${topic.valueSchema}: invalid ${paths.join(', ') || 'value'}`,
      );
    }
    // Encoded in place after the header in a reused buffer, then copied once into a buffer of the exact size.
    this.scratch.writeUInt8(MAGIC, 0);
    this.scratch.writeUInt32BE(registered.id, 1);
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    return out;
  }

  /** Decodes a wire-format buffer into the topic's reader schema. */
  async decode<T>(topic: TopicSpec, buffer: Buffer | null): Promise<T> {
    const id = AvroSerde.schemaIdOf(buffer);
    if (!this.writers.has(id)) await this.fetchWriter(id);
    return this.decodeKnown<T>(topic, buffer as Buffer);
  }

  /** Decodes many; writer schemas are fetched once per unknown id. Each result is the value or the error. */
  async decodeMany<T>(topic: TopicSpec, buffers: readonly (Buffer | null)[]): Promise<(T | SerdeError)[]> {
    const unknown = new Set<number>();
    for (const b of buffers) {
      try {
        const id = AvroSerde.schemaIdOf(b);
        if (!this.writers.has(id)) unknown.add(id);
      } catch {
        // reported per record below
      }
    }
    await Promise.all([...unknown].map((id) => this.fetchWriter(id).catch(() => undefined)));
    return buffers.map((b) => {
      try {
        return this.decodeKnown<T>(topic, b as Buffer);
      } catch (err) {
        return err instanceof SerdeError ? err : new SerdeError(String(err));
      }
    });
  }

  private decodeKnown<T>(topic: TopicSpec, buffer: Buffer): T {
    const id = AvroSerde.schemaIdOf(buffer);
    const writer = this.writers.get(id);
    if (!writer) throw new SerdeError(`unknown schema id ${id}`);
    if (!topic.valueSchema) throw new SerdeError(`topic ${topic.name} carries no Avro schema`);
    const reader = this.readerType(topic.valueSchema);
    const key = `${id}:${topic.valueSchema}`;
    let resolver = this.resolvers.get(key);
    if (!resolver) {
      try {
        resolver = writer === reader ? reader : reader.createResolver(writer);
      } catch (err) {
        throw new SerdeError(
          `schema id ${id} cannot be read as ${topic.valueSchema}: ${(err as Error).message}`,
        );
      }
      this.resolvers.set(key, resolver);
    }
    try {
      return (
        resolver === reader
          ? reader.fromBuffer(buffer.subarray(5))
          : reader.fromBuffer(buffer.subarray(5), resolver as never)
      ) as T;
    } catch (err) {
      throw new SerdeError(`undecodable Avro body (schema id ${id}): ${(err as Error).message}`);
    }
  }

  private async fetchWriter(id: number): Promise<void> {
    const schema = await this.registry.getSchema(id).catch((err: Error) => {
      throw new SerdeError(`schema id ${id} not found in the registry: ${err.message}`);
    });
    this.writers.set(id, schema as unknown as avro.Type);
  }

  static schemaIdOf(buffer: Buffer | null): number {
    if (!buffer || buffer.length < 5)
      throw new SerdeError('not in Confluent wire format: shorter than 5 bytes');
    if (buffer.readUInt8(0) !== MAGIC)
      throw new SerdeError(`not in Confluent wire format: magic byte ${buffer.readUInt8(0)}`);
    return buffer.readUInt32BE(1);
  }
}
