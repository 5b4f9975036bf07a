import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';

export class SecretsKeyError extends Error {
  override readonly name = 'SecretsKeyError';
}

interface Key {
  id: string;
  bytes: Buffer;
}

function parseKey(text: string, name: string): Key {
  const bytes = Buffer.from(text.trim(), 'base64');
  if (bytes.length !== 32)
    throw new SecretsKeyError(
      `${name} must be 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`), got ${bytes.length} bytes`,
    );
  return { id: createHash('sha256').update(bytes).digest('hex').slice(0, 8), bytes };
}

/**
 * Secrets at rest (routing keys, webhook secrets, webhook URLs, which carry their own tokens): AES-256-GCM with a key
 * from a Kubernetes Secret. A value is `enc:v1:<key id>:<base64 of iv|tag|ciphertext>`; the key id names which key
 * sealed it, so a rotation adds the new key as current and keeps the old ones for reading until every value has been
 * sealed again (scripts/rotate-secrets.ts). Values stored before encryption (no prefix) are read as they are.
 */
export class SecretBox {
  private readonly byId: Map<string, Key>;

  constructor(
    private readonly current: Key,
    previous: Key[] = [],
  ) {
    this.byId = new Map([current, ...previous].map((k) => [k.id, k]));
  }

  /**
   * Outside production without SECRETS_KEY: a fixed, public key. It keeps nothing secret — it only keeps the local
   * stack's code paths those of production — and every checkout reads what another sealed in the same database.
   */
  static readonly DEVELOPMENT_KEY = createHash('sha256')
    .update('burnrate development key: public, never for production')
    .digest('base64');

  /** From the environment: SECRETS_KEY (current) and SECRETS_PREVIOUS_KEYS (comma-separated, still readable). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SecretBox {
    const previous = (env.SECRETS_PREVIOUS_KEYS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((k, i) => parseKey(k, `SECRETS_PREVIOUS_KEYS[${i}]`));
    if (env.SECRETS_KEY) return new SecretBox(parseKey(env.SECRETS_KEY, 'SECRETS_KEY'), previous);
    if (env.NODE_ENV === 'production')
      throw new SecretsKeyError(
        'SECRETS_KEY is required in production (32 random bytes, base64, from a Secret)',
      );
    return new SecretBox(parseKey(SecretBox.DEVELOPMENT_KEY, 'the development key'), previous);
  }

  get keyId(): string {
    return this.current.id;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.bytes, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${this.current.id}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(value: string): string {
    if (!value.startsWith(PREFIX)) return value;
    const [id, data] = value.slice(PREFIX.length).split(':');
    const key = this.byId.get(id);
    if (!key)
      throw new SecretsKeyError(
        `a secret was sealed with key ${id}, which is neither SECRETS_KEY nor in SECRETS_PREVIOUS_KEYS`,
      );
    const raw = Buffer.from(data ?? '', 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key.bytes, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  /** True when the value is not sealed with the current key (plain, or an older key): a rotation seals it again. */
  isStale(value: string): boolean {
    return !value.startsWith(`${PREFIX}${this.current.id}:`);
  }

  /** A copy of `obj` with the named string fields sealed (fields absent or not strings are left as they are). */
  sealFields<T extends object>(obj: T, fields: readonly string[]): T {
    return this.mapFields(obj, fields, (v) => (v.startsWith(PREFIX) ? v : this.seal(v)));
  }

  openFields<T extends object>(obj: T, fields: readonly string[]): T {
    return this.mapFields(obj, fields, (v) => this.open(v));
  }

  private mapFields<T extends object>(obj: T, fields: readonly string[], fn: (v: string) => string): T {
    const out: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
    for (const f of fields) {
      const v = out[f];
      if (typeof v === 'string') out[f] = fn(v);
    }
    return out as T;
  }
}
