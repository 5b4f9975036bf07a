import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Role = 'team' | 'admin';

export interface Principal {
  keyId: string;
  team: string;
  role: Role;
}

/**
 * Keys look like `br_<prefix>_<secret>`: the prefix (8 url-safe chars) finds the row and may be shown; the whole key is
 * hashed with SHA-256, which is right for a 192-bit random secret (no dictionary to guard against, so no slow KDF).
 */
export function generateApiKey(): { key: string; prefix: string; hash: Buffer } {
  const prefix = randomBytes(6).toString('base64url');
  const secret = randomBytes(24).toString('base64url');
  const key = `br_${prefix}_${secret}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function parseApiKey(key: string): { prefix: string } | null {
  const m = /^br_([A-Za-z0-9_-]{8})_[A-Za-z0-9_-]{32}$/.exec(key);
  return m ? { prefix: m[1] } : null;
}

export function hashesMatch(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
