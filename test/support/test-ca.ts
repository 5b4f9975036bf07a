import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM files in a temporary folder. */
export interface TestCa {
  dir: string;
  caFile: string;
  ca: string;
  /** The server's certificate and key, for node:https, smtp-server and the like. */
  cert: string;
  key: string;
  remove(): void;
}

/** Made with the openssl command (Node cannot issue certificates), valid for a day, EC P-256 to be quick. */
export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-ca-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...newKey,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
  );
  openssl('req', ...newKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  const sign = ['-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-extfile', 'ext'];
  openssl('x509', ...sign, '-days', '1', '-out', 'server.crt');
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    ca: read('ca.crt'),
    cert: read('server.crt'),
    key: read('server.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
