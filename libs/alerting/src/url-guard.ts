import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';

/**
 * Outbound safety of tenant-provided destination URLs: a destination may not reach loopback, private, link-local
 * (cloud metadata), CGNAT, multicast or reserved addresses, nor cluster-internal names, unless the operator's
 * ALERT_DESTINATION_ALLOWLIST admits it. Checked when a route is created and again before every send (the name may
 * have been re-pointed since), and the connection goes to the address that was checked.
 */
export const ALLOWLIST_VARIABLE = 'ALERT_DESTINATION_ALLOWLIST';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a name resolves to, as the system resolver answers a connect (dns.lookup, all families). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

type Bytes = Uint8Array;

function parseIPv4(s: string): Bytes | null {
  return isIP(s) === 4 ? Uint8Array.from(s.split('.').map(Number)) : null;
}

function parseIPv6(input: string): Bytes | null {
  let s = input.replace(/%.*$/, '');
  if (isIP(s) !== 6) return null;
  if (s.includes('.')) {
    const cut = s.lastIndexOf(':') + 1;
    const v4 = parseIPv4(s.slice(cut));
    if (!v4) return null;
    s = `${s.slice(0, cut)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const first = head ? head.split(':') : [];
  const last = tail ? tail.split(':') : [];
  const groups = [
    ...first,
    ...Array<string>(tail === undefined ? 0 : 8 - first.length - last.length).fill('0'),
    ...last,
  ];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

/** An IP literal as bytes (4 or 16), an IPv4-mapped IPv6 address as its IPv4; null when not an IP literal. */
export function parseIp(s: string): Bytes | null {
  const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  const v4 = parseIPv4(bare);
  if (v4) return v4;
  const v6 = parseIPv6(bare);
  if (!v6) return null;
  return isMapped(v6) ? v6.slice(12) : v6;
}

const isMapped = (b: Bytes): boolean =>
  b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

interface Cidr {
  bytes: Bytes;
  prefix: number;
}

function parseCidr(s: string): Cidr | null {
  const [ip, len, ...rest] = s.split('/');
  const bytes = parseIp(ip);
  if (!bytes || rest.length > 0) return null;
  const bits = bytes.length * 8;
  if (len === undefined) return { bytes, prefix: bits };
  if (!/^\d{1,3}$/.test(len) || Number(len) > bits) return null;
  return { bytes, prefix: Number(len) };
}

function contains(c: Cidr, b: Bytes): boolean {
  if (c.bytes.length !== b.length) return false;
  const whole = c.prefix >> 3;
  for (let i = 0; i < whole; i++) if (c.bytes[i] !== b[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (c.bytes[whole] & mask) === (b[whole] & mask);
}

type AddressKind =
  'loopback' | 'private' | 'link-local' | 'unspecified' | 'shared (CGNAT)' | 'multicast' | 'reserved';

const RANGES: [string, AddressKind][] = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared (CGNAT)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'reserved'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'],
  ['::ffff:0:0:0/96', 'reserved'],
  ['64:ff9b:1::/48', 'reserved'],
  ['100::/64', 'reserved'],
  ['2001::/23', 'reserved'],
  ['2001:db8::/32', 'reserved'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
];
const BLOCKED: [Cidr, AddressKind][] = RANGES.map(([c, kind]) => [parseCidr(c)!, kind]);
const NAT64 = parseCidr('64:ff9b::/96')!;
const SIX_TO_FOUR = parseCidr('2002::/16')!;

/** Why an address may not be reached, or null when it is a public unicast address. */
export function blockedKind(address: string): AddressKind | null {
  const b = parseIp(address);
  if (!b) return 'reserved';
  for (const [c, kind] of BLOCKED) if (contains(c, b)) return kind;
  // IPv6 forms that carry an IPv4 address to a gateway reach that IPv4 address
  if (contains(NAT64, b)) return blockedKind(b.slice(12).join('.'));
  if (contains(SIX_TO_FOUR, b)) return blockedKind(b.slice(2, 6).join('.'));
  return null;
}

const INTERNAL_SUFFIXES = ['.localhost', '.local', '.svc', '.internal', '.home.arpa', '.localdomain'];

/** Names that reach inside the cluster or the host: localhost, *.svc, *.cluster.local, *.internal, single labels. */
export function isInternalName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || !h.includes('.') || INTERNAL_SUFFIXES.some((s) => h.endsWith(s));
}

class AllowListError extends Error {
  // parseConfig prints String(err): the message alone reads as one config problem
  override toString(): string {
    return this.message;
  }
}

type AllowRule = { host: string; port?: number } | { cidr: Cidr; port?: number };

/** ALERT_DESTINATION_ALLOWLIST: hostnames, host:port pairs and CIDRs (a bare IP is its /32 or /128). */
export class DestinationAllowList {
  private constructor(
    private readonly rules: AllowRule[],
    readonly entries: readonly string[],
  ) {}

  static readonly empty = new DestinationAllowList([], []);

  /** Throws one error naming every entry that is not a hostname, host:port or CIDR. */
  static parse(raw: string | readonly string[] | undefined): DestinationAllowList {
    const entries = (typeof raw === 'string' ? raw.split(',') : (raw ?? []))
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean);
    const bad: string[] = [];
    const rules = entries.flatMap((e) => {
      const rule = parseRule(e);
      if (!rule) bad.push(`"${e}"`);
      return rule ? [rule] : [];
    });
    if (bad.length)
      throw new AllowListError(
        `${ALLOWLIST_VARIABLE}: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not a hostname, host:port or CIDR`,
      );
    return new DestinationAllowList(rules, entries);
  }

  admitsHost(hostname: string, port: number): boolean {
    const h = hostname.toLowerCase().replace(/\.$/, '');
    return this.rules.some((r) => 'host' in r && r.host === h && (r.port === undefined || r.port === port));
  }

  admitsAddress(address: string, port: number): boolean {
    const b = parseIp(address);
    return (
      b !== null &&
      this.rules.some((r) => 'cidr' in r && contains(r.cidr, b) && (r.port === undefined || r.port === port))
    );
  }
}

const HOSTNAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/;

function parseRule(e: string): AllowRule | null {
  const port = (p: string): number | null => (/^\d{1,5}$/.test(p) && +p >= 1 && +p <= 65535 ? +p : null);
  if (e.includes('/')) {
    const cidr = parseCidr(e);
    return cidr && { cidr };
  }
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(e);
  if (bracketed) {
    const cidr = parseCidr(bracketed[1]);
    const p = port(bracketed[2]);
    return cidr && p !== null && cidr.bytes.length === 16 ? { cidr, port: p } : null;
  }
  const ip = parseCidr(e);
  if (ip) return { cidr: ip };
  const withPort = /^([^:]+):([^:]+)$/.exec(e);
  const host = withPort ? withPort[1] : e;
  const p = withPort ? port(withPort[2]) : undefined;
  if (p === null) return null;
  const hostIp = parseCidr(host);
  if (hostIp) return { cidr: hostIp, port: p };
  return HOSTNAME.test(host) ? { host: host.replace(/\.$/, ''), port: p } : null;
}

export type DestinationCheck =
  /** Every address the host resolves to may be reached; connect to one of these and no other. */
  | { status: 'allowed'; hostname: string; port: number; addresses: ResolvedAddress[] }
  | { status: 'refused'; reason: string }
  /** The name does not resolve now: nothing to connect to (a send retries; a new route is let through). */
  | { status: 'unresolved'; reason: string };

const article = (kind: string): string => (/^[aeiou]/.test(kind) ? 'an' : 'a');

export class DestinationGuard {
  constructor(
    private readonly allowList: DestinationAllowList,
    private readonly resolve: Resolver = systemResolver,
  ) {}

  async check(url: string): Promise<DestinationCheck> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return { status: 'refused', reason: 'destination is not a URL' };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      return { status: 'refused', reason: 'destination must be an http(s) URL' };
    // WHATWG URL parsing has already turned 0x7f.1, 2130706433 and the like into dotted IPv4
    const hostname = u.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    const listedHost = this.allowList.admitsHost(hostname, port);
    const literal = parseIp(hostname);
    if (!literal && !listedHost && isInternalName(hostname))
      return {
        status: 'refused',
        reason: `destination host "${hostname}" is a cluster-internal name; not in ${ALLOWLIST_VARIABLE}`,
      };
    let addresses: ResolvedAddress[];
    if (literal) {
      addresses = [{ address: hostname, family: isIP(hostname) === 4 ? 4 : 6 }];
    } else {
      try {
        addresses = await this.resolve(hostname);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        return { status: 'unresolved', reason: `destination host "${hostname}" does not resolve (${code})` };
      }
      if (addresses.length === 0)
        return { status: 'unresolved', reason: `destination host "${hostname}" does not resolve` };
    }
    if (!listedHost) {
      for (const { address } of addresses) {
        const kind = blockedKind(address);
        if (kind && !this.allowList.admitsAddress(address, port))
          return {
            status: 'refused',
            reason: `destination resolves to ${article(kind)} ${kind} address ${address}; not in ${ALLOWLIST_VARIABLE}`,
          };
      }
    }
    return { status: 'allowed', hostname, port, addresses };
  }
}

/** A `lookup` for http(s).request that answers with the checked addresses only, so a re-pointed name is not followed. */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    const usable = addresses.filter((a) => !family || family === a.family);
    if (usable.length === 0) {
      const err: NodeJS.ErrnoException = new Error('no checked address of the requested family');
      err.code = 'ENOTFOUND';
      callback(err, '', undefined);
      return;
    }
    if (options.all)
      callback(
        null,
        usable.map((a) => ({ address: a.address, family: a.family })),
      );
    else callback(null, usable[0].address, usable[0].family);
  };
}
