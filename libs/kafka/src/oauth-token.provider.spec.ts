import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createTestCa, type TestCa } from '../../../test/support/test-ca';
import { ClientCredentialsTokenProvider, OAuthTokenError } from './oauth-token.provider';

interface TokenRequest {
  method: string | undefined;
  path: string | undefined;
  headers: IncomingHttpHeaders;
  form: Record<string, string>;
}

type Answer = { status: number; body: unknown } | ((req: TokenRequest) => { status: number; body: unknown });

/** A token endpoint on 127.0.0.1 that records each request and answers what the test says. */
class TokenEndpoint {
  readonly requests: TokenRequest[] = [];
  private answers: Answer[] = [];

  constructor(private readonly server: Server) {
    server.on('request', this.handle);
  }

  static async start(server: Server = createServer()): Promise<TokenEndpoint> {
    const endpoint = new TokenEndpoint(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return endpoint;
  }

  url(scheme = 'http', path = '/realms/kafka/token'): string {
    return `${scheme}://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  /** The answers to the next requests, in order; the last one repeats. */
  answer(...answers: Answer[]): void {
    this.answers = answers;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private readonly handle: RequestListener = (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const request = {
        method: req.method,
        path: req.url,
        headers: req.headers,
        form: Object.fromEntries(new URLSearchParams(body)),
      };
      this.requests.push(request);
      const next = this.answers.length > 1 ? this.answers.shift()! : this.answers[0];
      const { status, body: answer } = typeof next === 'function' ? next(request) : next;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  };
}

const token = (value: string, expiresIn?: number | string) => ({
  status: 200,
  body: {
    access_token: value,
    token_type: 'Bearer',
    ...(expiresIn !== undefined && { expires_in: expiresIn }),
  },
});

describe(ClientCredentialsTokenProvider.name, () => {
  let endpoint: TokenEndpoint;
  let now: number;
  const client = { clientId: 'burnrate client', clientSecret: 's3cret:/+&é' };
  const credentials = () => ({ ...client, tokenUrl: endpoint.url() });

  beforeEach(async () => {
    endpoint = await TokenEndpoint.start();
    now = 1_000_000;
  });
  afterEach(() => endpoint.close());

  it('posts the client-credentials grant, the client id and secret form-encoded in HTTP Basic', async () => {
    endpoint.answer(token('t1', 300));
    const sut = new ClientCredentialsTokenProvider({ ...credentials(), scope: 'kafka openid' });

    expect(await sut.accessToken()).toBe('t1');

    expect(endpoint.requests).toHaveLength(1);
    const [req] = endpoint.requests;
    expect(req).toMatchObject({ method: 'POST', path: '/realms/kafka/token' });
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.form).toEqual({ grant_type: 'client_credentials', scope: 'kafka openid' });
    const basic = Buffer.from(req.headers.authorization!.replace(/^Basic /, ''), 'base64').toString();
    expect(basic).toBe('burnrate+client:s3cret%3A%2F%2B%26%C3%A9');
    const [id, secret] = basic.split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
    expect([id, secret]).toEqual(['burnrate client', 's3cret:/+&é']);
  });

  it('sends no scope unless given one', async () => {
    endpoint.answer(token('t1', 300));
    await new ClientCredentialsTokenProvider(credentials()).accessToken();
    expect(endpoint.requests[0].form).toEqual({ grant_type: 'client_credentials' });
  });

  it('hands out the same token until 80% of expires_in has passed, then fetches the next', async () => {
    endpoint.answer(token('t1', 100), token('t2', '100'));
    const sut = new ClientCredentialsTokenProvider(credentials(), { now: () => now });

    expect(await sut.accessToken()).toBe('t1');
    now += 79_999;
    expect(await sut.accessToken()).toBe('t1');
    expect(endpoint.requests).toHaveLength(1);

    now += 1;
    expect(await sut.accessToken()).toBe('t2');
    now += 79_999;
    expect(await sut.accessToken()).toBe('t2');
    expect(endpoint.requests).toHaveLength(2);
  });

  it('makes one request however many connections ask at once', async () => {
    endpoint.answer(token('t1', 300));
    const sut = new ClientCredentialsTokenProvider(credentials());

    expect(await Promise.all([1, 2, 3, 4, 5].map(() => sut.accessToken()))).toEqual(Array(5).fill('t1'));
    expect(endpoint.requests).toHaveLength(1);
  });

  it('fetches a token without expires_in again for every connection', async () => {
    endpoint.answer(token('t1'), token('t2'));
    const sut = new ClientCredentialsTokenProvider(credentials());

    expect([await sut.accessToken(), await sut.accessToken()]).toEqual(['t1', 't2']);
  });

  it('keeps using the current token while it is valid when the refresh fails, then fails', async () => {
    endpoint.answer(token('t1', 100), { status: 503, body: {} });
    const stale: Error[] = [];
    const sut = new ClientCredentialsTokenProvider(credentials(), {
      now: () => now,
      onStaleToken: (err) => stale.push(err),
    });

    await sut.accessToken();
    now += 90_000;
    expect(await sut.accessToken()).toBe('t1');
    expect(stale.map((e) => e.message)).toEqual([`token request to ${endpoint.url()} failed: HTTP 503`]);

    now += 10_000;
    await expect(sut.accessToken()).rejects.toThrow(`token request to ${endpoint.url()} failed: HTTP 503`);
    expect(endpoint.requests).toHaveLength(3);
  });

  it('names the endpoint, the HTTP status and the OAuth error, never the secret or the query', async () => {
    endpoint.answer({
      status: 401,
      body: { error: 'invalid_client', error_description: 'secret s3cret:/+&é does not match' },
    });
    const sut = new ClientCredentialsTokenProvider({
      ...credentials(),
      tokenUrl: `${endpoint.url()}?tenant=kafka`,
    });

    const err: unknown = await sut.accessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthTokenError);
    expect((err as Error).message).toBe(
      `token request to ${endpoint.url()} failed: HTTP 401 (invalid_client)`,
    );
    expect(endpoint.requests[0].path).toBe('/realms/kafka/token?tenant=kafka');
  });

  it('fails on an answer without an access token', async () => {
    endpoint.answer({ status: 200, body: { token_type: 'Bearer' } });
    await expect(new ClientCredentialsTokenProvider(credentials()).accessToken()).rejects.toThrow(
      `token endpoint ${endpoint.url()} answered HTTP 200 without an access_token`,
    );
  });

  it('names the endpoint when it cannot be reached', async () => {
    const url = endpoint.url();
    await endpoint.close();
    await expect(
      new ClientCredentialsTokenProvider({ ...client, tokenUrl: url }).accessToken(),
    ).rejects.toThrow(new RegExp(`^token request to ${url} failed: .*ECONNREFUSED`));
  });

  it('gives up on an endpoint that does not answer in time', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const tokenUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/token`;
    try {
      await expect(
        new ClientCredentialsTokenProvider({ ...client, tokenUrl }, { timeoutMs: 50 }).accessToken(),
      ).rejects.toThrow(`token request to ${tokenUrl} failed: no answer within 50 ms`);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  describe('an https endpoint signed by the Kafka CA', () => {
    let testCa: TestCa;
    let ca: string;
    let tls: TokenEndpoint;

    beforeAll(async () => {
      testCa = createTestCa();
      ca = testCa.ca;
      tls = await TokenEndpoint.start(createHttpsServer({ key: testCa.key, cert: testCa.cert }));
      tls.answer(token('t-tls', 300));
    });
    afterAll(async () => {
      await tls?.close();
      testCa?.remove();
    });

    it('trusts that CA besides the default ones', async () => {
      const sut = new ClientCredentialsTokenProvider({ ...client, tokenUrl: tls.url('https'), ca });
      expect(await sut.accessToken()).toBe('t-tls');
    });

    it('is refused without it', async () => {
      const sut = new ClientCredentialsTokenProvider({ ...client, tokenUrl: tls.url('https') });
      await expect(sut.accessToken()).rejects.toThrow(
        `token request to ${tls.url('https')} failed: unable to verify the first certificate`,
      );
    });
  });
});
