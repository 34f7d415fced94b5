// Shared pieces of the test CSMS self-tests: an ocpp-rpc RPCClient playing
// the charge point, a bare WebSocket upgrade request that reports the HTTP
// status, and throwaway certificates made with the openssl CLI.

import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import ocppRpc from 'ocpp-rpc';

export const { RPCClient } = ocppRpc;

export const BOOT = { chargePointVendor: 'wattstream', chargePointModel: 'selftest' };

// A strict 1.6 charge point that does not reconnect on its own.
export function chargePoint(csms, identity, opts = {}) {
  return new RPCClient({
    endpoint: csms.url,
    identity,
    protocols: ['ocpp1.6'],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: 5000,
    ...opts,
  });
}

// Sends a WebSocket upgrade request and resolves with the HTTP status
// (101 when the server switched protocols, then closes the socket).
export function upgradeStatus({ port, path, protocol, headers = {}, tls }) {
  return new Promise((resolve, reject) => {
    const h = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
      ...headers,
    };
    if (protocol !== undefined)
      h['Sec-WebSocket-Protocol'] = protocol;
    const mod = tls ? https : http;
    const req = mod.request({ host: '127.0.0.1', port, path, headers: h, ...(tls ?? {}) });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(res.statusCode));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

export function tempDir(tag) {
  const base = process.env.TMPDIR || '/tmp';
  return fs.mkdtempSync(`${base}/wattstream-csms-${tag}-`);
}

function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

// Makes a CA, a server certificate for 127.0.0.1 and a client certificate
// (CN = cn) signed by that CA; returns their PEM texts. P-256 keys: fast.
export function makePki(dir, name, cn) {
  const p = (f) => `${dir}/${name}-${f}`;
  const key = (f) => openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p(f)]);
  key('ca.key');
  openssl(dir, ['req', '-x509', '-new', '-key', p('ca.key'), '-days', '2', '-subj', `/CN=${name} test CA`,
    '-out', p('ca.pem')]);
  fs.writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  fs.writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [who, subj, ext] of [['server', '/CN=localhost', 'server.ext'], ['client', `/CN=${cn}`, 'client.ext']]) {
    key(`${who}.key`);
    openssl(dir, ['req', '-new', '-key', p(`${who}.key`), '-subj', subj, '-out', p(`${who}.csr`)]);
    openssl(dir, ['x509', '-req', '-in', p(`${who}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'),
      '-CAcreateserial', '-days', '2', '-extfile', p(ext), '-out', p(`${who}.pem`)]);
  }
  const r = (f) => fs.readFileSync(p(f));
  return {
    ca: r('ca.pem'),
    serverKey: r('server.key'), serverCert: r('server.pem'),
    clientKey: r('client.key'), clientCert: r('client.pem'),
  };
}
