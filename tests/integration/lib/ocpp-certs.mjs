// ocpp-certs.mjs: throwaway PKI for the TLS tests, made with the openssl
// CLI in a temp dir: a trusted CA and a rogue CA, server certificates for
// localhost (trusted, rogue) and for another name, client certificates
// from both CAs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(dir) {
  const p = (f) => path.join(dir, f);
  const key = (f) => openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p(f)]);
  for (const ca of ['ca', 'rogue']) {
    key(`${ca}.key`);
    openssl(dir, ['req', '-x509', '-new', '-key', p(`${ca}.key`), '-days', '2',
      '-subj', `/CN=wattstream ${ca} test CA`, '-out', p(`${ca}.pem`)]);
  }
  fs.writeFileSync(p('localhost.ext'), 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  fs.writeFileSync(p('other.ext'), 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n');
  fs.writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  const issue = (who, ca, subj, ext) => {
    key(`${who}.key`);
    openssl(dir, ['req', '-new', '-key', p(`${who}.key`), '-subj', subj, '-out', p(`${who}.csr`)]);
    openssl(dir, ['x509', '-req', '-in', p(`${who}.csr`), '-CA', p(`${ca}.pem`), '-CAkey', p(`${ca}.key`),
      '-CAcreateserial', '-days', '2', '-extfile', p(ext), '-out', p(`${who}.pem`)]);
  };
  issue('server', 'ca', '/CN=localhost', 'localhost.ext');
  issue('server-rogue', 'rogue', '/CN=localhost', 'localhost.ext');
  issue('server-other', 'ca', '/CN=other.example', 'other.ext');
  issue('client', 'ca', '/CN=CP-1', 'client.ext');
  issue('client-rogue', 'rogue', '/CN=CP-1', 'client.ext');
  const file = (f) => p(f);
  const read = (f) => fs.readFileSync(p(f));
  return { dir, file, read };
}
