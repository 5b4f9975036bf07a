import {
  DestinationAllowList,
  DestinationGuard,
  blockedKind,
  isInternalName,
  pinnedLookup,
  type ResolvedAddress,
} from './url-guard';

const resolver =
  (answers: Record<string, string[]>) =>
  async (host: string): Promise<ResolvedAddress[]> => {
    const found = answers[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe(blockedKind.name, () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.255', 'shared (CGNAT)'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:a00:1::', 'private'],
  ])('%s is %s', (address, kind) => {
    expect(blockedKind(address)).toBe(kind);
  });

  it.each(['93.184.215.14', '172.32.0.1', '100.128.0.1', '2606:4700::6810:84e5', '::ffff:5db8:d70e'])(
    '%s is a public address',
    (address) => {
      expect(blockedKind(address)).toBeNull();
    },
  );
});

describe(isInternalName.name, () => {
  it('knows the names that reach inside the cluster or the host', () => {
    for (const h of [
      'localhost',
      'LOCALHOST.',
      'api.localhost',
      'redis',
      'api.burnrate.svc',
      'api.burnrate.svc.cluster.local',
      'metadata.google.internal',
    ])
      expect([h, isInternalName(h)]).toEqual([h, true]);
    expect(isInternalName('hooks.slack.com')).toBe(false);
  });
});

describe(DestinationAllowList.name, () => {
  it('reads hostnames, host:port pairs, IPs and CIDRs', () => {
    const sut = DestinationAllowList.parse(
      ' hooks.corp.example , relay.svc:8443, 10.20.0.0/16, 127.0.0.1:9000, ::1 ',
    );
    expect(sut.admitsHost('HOOKS.corp.example', 443)).toBe(true);
    expect(sut.admitsHost('relay.svc', 8443)).toBe(true);
    expect(sut.admitsHost('relay.svc', 443)).toBe(false);
    expect(sut.admitsAddress('10.20.3.4', 80)).toBe(true);
    expect(sut.admitsAddress('::ffff:10.20.3.4', 80)).toBe(true);
    expect(sut.admitsAddress('10.21.0.1', 80)).toBe(false);
    expect(sut.admitsAddress('127.0.0.1', 9000)).toBe(true);
    expect(sut.admitsAddress('127.0.0.1', 9001)).toBe(false);
    expect(sut.admitsAddress('::1', 1)).toBe(true);
  });

  it('names every entry it cannot read', () => {
    expect(() => DestinationAllowList.parse('ok.example, 10.0.0.0/33, host:99999, a b')).toThrow(
      'ALERT_DESTINATION_ALLOWLIST: "10.0.0.0/33", "host:99999", "a b" are not a hostname, host:port or CIDR',
    );
  });
});

describe(DestinationGuard.name, () => {
  const sut = new DestinationGuard(
    DestinationAllowList.empty,
    resolver({
      'hooks.example.com': ['93.184.215.14'],
      'rebind.example.com': ['93.184.215.14', '10.0.0.1'],
      'v6.example.com': ['2606:4700::1', 'fd00:ec2::254'],
      'metadata.example.com': ['169.254.169.254'],
    }),
  );

  it('lets a public destination through with the addresses to connect to', async () => {
    expect(await sut.check('https://hooks.example.com/x')).toEqual({
      status: 'allowed',
      hostname: 'hooks.example.com',
      port: 443,
      addresses: [{ address: '93.184.215.14', family: 4 }],
    });
  });

  it.each([
    ['http://127.0.0.1:8080/', 'destination resolves to a loopback address 127.0.0.1'],
    ['http://0x7f.1/', 'destination resolves to a loopback address 127.0.0.1'],
    ['http://2130706433/', 'destination resolves to a loopback address 127.0.0.1'],
    ['http://017700000001/', 'destination resolves to a loopback address 127.0.0.1'],
    ['http://[::1]/', 'destination resolves to a loopback address ::1'],
    ['http://[::ffff:127.0.0.1]/', 'destination resolves to a loopback address ::ffff:7f00:1'],
    ['http://[::ffff:a9fe:a9fe]/', 'destination resolves to a link-local address ::ffff:a9fe:a9fe'],
    ['http://0.0.0.0/', 'destination resolves to an unspecified address 0.0.0.0'],
    [
      'http://169.254.169.254/latest/meta-data',
      'destination resolves to a link-local address 169.254.169.254',
    ],
    ['http://100.100.100.200/', 'destination resolves to a shared (CGNAT) address 100.100.100.200'],
    ['https://rebind.example.com/', 'destination resolves to a private address 10.0.0.1'],
    ['https://v6.example.com/', 'destination resolves to a private address fd00:ec2::254'],
    ['https://metadata.example.com/', 'destination resolves to a link-local address 169.254.169.254'],
    ['http://localhost:9090/', 'destination host "localhost" is a cluster-internal name'],
    ['http://api.burnrate.svc.cluster.local/', 'destination host "api.burnrate.svc.cluster.local" is'],
    ['http://kafka:9092/', 'destination host "kafka" is a cluster-internal name'],
    ['http://metadata.google.internal/', 'destination host "metadata.google.internal" is'],
  ])('refuses %s', async (url, reason) => {
    const result = await sut.check(url);
    expect(result.status).toBe('refused');
    expect(result.status === 'refused' && result.reason).toContain(reason);
    expect(result.status === 'refused' && result.reason).toMatch(/; not in ALERT_DESTINATION_ALLOWLIST$/);
  });

  it('reports a name that does not resolve apart from a refusal', async () => {
    expect(await sut.check('https://nowhere.example.com/')).toEqual({
      status: 'unresolved',
      reason: 'destination host "nowhere.example.com" does not resolve (ENOTFOUND)',
    });
  });

  it('admits what the operator allow-lists, by name, by name and port, or by address', async () => {
    const allowed = new DestinationGuard(
      DestinationAllowList.parse('localhost:9090, relay.corp.internal, 10.0.0.0/8, 127.0.0.1'),
      resolver({
        localhost: ['127.0.0.1'],
        'relay.corp.internal': ['192.168.4.4'],
        'rebind.example.com': ['93.184.215.14', '10.0.0.1'],
      }),
    );
    expect((await allowed.check('http://localhost:9090/')).status).toBe('allowed');
    expect((await allowed.check('http://localhost:9091/')).status).toBe('refused');
    expect(await allowed.check('https://relay.corp.internal/')).toMatchObject({
      status: 'allowed',
      addresses: [{ address: '192.168.4.4', family: 4 }],
    });
    expect((await allowed.check('https://rebind.example.com/')).status).toBe('allowed');
    expect((await allowed.check('http://127.0.0.1:18404/')).status).toBe('allowed');
    expect((await allowed.check('http://[::ffff:127.0.0.1]/')).status).toBe('allowed');
    expect((await allowed.check('http://192.168.0.1/')).status).toBe('refused');
  });
});

describe(pinnedLookup.name, () => {
  const lookup = pinnedLookup([
    { address: '93.184.215.14', family: 4 },
    { address: '2606:4700::1', family: 6 },
  ]);
  const ask = (options: { all?: boolean; family?: number }) =>
    new Promise<unknown[]>((resolve) => lookup('anything', options, (...args) => resolve(args)));

  it('answers with the checked addresses whatever the name now resolves to', async () => {
    expect(await ask({})).toEqual([null, '93.184.215.14', 4]);
    expect(await ask({ family: 6 })).toEqual([null, '2606:4700::1', 6]);
    expect(await ask({ all: true })).toEqual([
      null,
      [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:4700::1', family: 6 },
      ],
    ]);
  });
});
