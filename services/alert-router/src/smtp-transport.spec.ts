import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { parseConfig } from '@libs/config';
import { createTestCa, type TestCa } from '../../../test/support/test-ca';
import { alertRouterSpec } from './alert-router.config';
import { smtpTransportOptions } from './smtp-transport';

describe(smtpTransportOptions.name, () => {
  const ca = {
    path: '/etc/smtp/ca.crt',
    pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  };

  it('reads SMTP_URL as nodemailer does, without a CA unless SMTP_CA_FILE is set', () => {
    expect(smtpTransportOptions('smtp://alerts:p%40ss@smtp.internal:587')).toEqual({
      secure: false,
      host: 'smtp.internal',
      port: 587,
      auth: { user: 'alerts', pass: 'p@ss' },
    });
  });

  it("adds the CA to the URL's TLS options, and nodemailer keeps it", () => {
    const sut = smtpTransportOptions('smtps://smtp.internal:465?tls.servername=mail.internal&pool=true', ca);
    expect(sut).toMatchObject({
      secure: true,
      pool: true,
      tls: { servername: 'mail.internal', ca: ca.pem },
    });
    const transport = nodemailer.createTransport(sut) as unknown as {
      transporter: { options: { tls?: unknown } };
    };
    expect(transport.transporter.options.tls).toEqual({ servername: 'mail.internal', ca: ca.pem });
  });

  describe('against an SMTP server signed by a private CA', () => {
    let testCa: TestCa;
    let server: SMTPServer;
    let port: number;
    const received: string[] = [];

    beforeAll(async () => {
      testCa = createTestCa();
      server = new SMTPServer({
        secure: true,
        key: testCa.key,
        cert: testCa.cert,
        authOptional: true,
        logger: false,
        onData: (stream, session, cb) => {
          received.push(session.envelope.rcptTo.map((r) => r.address).join(','));
          stream.resume().on('end', () => cb());
        },
      });
      server.on('error', () => undefined); // a client refusing the certificate closes mid-handshake
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      testCa?.remove();
    });

    const send = (env: Record<string, string>) => {
      const config = parseConfig(alertRouterSpec, { SMTP_URL: `smtps://127.0.0.1:${port}`, ...env });
      const transport = nodemailer.createTransport(
        smtpTransportOptions(config.SMTP_URL!, config.SMTP_CA_FILE),
      );
      return transport
        .sendMail({ from: 'alerts@burnrate.local', to: 'oncall@example.com', subject: 's', text: 't' })
        .finally(() => transport.close());
    };

    it('delivers over TLS when SMTP_CA_FILE names the CA', async () => {
      await send({ SMTP_CA_FILE: testCa.caFile });
      expect(received).toEqual(['oncall@example.com']);
    });

    it('is refused without it', async () => {
      await expect(send({})).rejects.toThrow(/unable to verify the first certificate/);
    });
  });
});
