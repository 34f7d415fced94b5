// Self-tests of WSS (security profiles 2 and 3) with throwaway certificates
// made by the openssl CLI in a temp dir: a client certificate from the
// right CA is accepted, none or one from another CA is refused.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startCsms } from '../csms.mjs';
import { chargePoint, makePki, tempDir, upgradeStatus, BOOT } from './helpers.mjs';

let dir, good, rogue;

before(() => {
  dir = tempDir('tls');
  good = makePki(dir, 'good', 'CP-1');
  rogue = makePki(dir, 'rogue', 'CP-1');
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function tlsServer(pki, extra = {}) {
  return { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, ...extra };
}

async function tryConnect(csms, identity, wsOpts, opts = {}) {
  const c = chargePoint(csms, identity, { wsOpts, ...opts });
  try {
    await c.connect();
    const boot = await c.call('BootNotification', BOOT);
    return boot.status;
  } catch (err) {
    return err.code ?? err.message;
  } finally {
    await c.close({ force: true });
  }
}

test('profile 3: client certificate signed by the CA accepted, others refused', async () => {
  const csms = await startCsms({ port: 0, tls: tlsServer(good, { requestCert: true }) });
  try {
    assert.match(csms.url, /^wss:\/\/127\.0\.0\.1:\d+\/ocpp$/);
    assert.equal(await tryConnect(csms, 'CP-1', { ca: good.ca, key: good.clientKey, cert: good.clientCert }),
      'Accepted');
    const conn = await csms.waitConnected('CP-1');
    assert.equal(conn.auth, 'tls+client-cert');
    assert.equal(conn.clientCert.subject.CN, 'CP-1');

    // no client certificate, then one from another CA: the TLS handshake fails
    const none = await tryConnect(csms, 'CP-1', { ca: good.ca });
    const wrong = await tryConnect(csms, 'CP-1', { ca: good.ca, key: rogue.clientKey, cert: rogue.clientCert });
    assert.notEqual(none, 'Accepted');
    assert.notEqual(wrong, 'Accepted');
    assert.equal(csms.connections.filter((r) => r.kind === 'connect').length, 1);
    const r1 = await csms.waitRefused(null);
    const r2 = await csms.waitRefused(null, { since: r1.seq });
    assert.match(r1.reason, /^TLS: /);
    assert.match(r2.reason, /^TLS: /);
    await csms.waitFor('BootNotification');
    assert.equal(csms.received('BootNotification').length, 1);
    // the charge point side refuses a server it cannot verify
    assert.notEqual(await tryConnect(csms, 'CP-1', { ca: rogue.ca, key: good.clientKey, cert: good.clientCert }),
      'Accepted');
    assert.equal(csms.connections.filter((r) => r.kind === 'connect').length, 1);
  } finally {
    await csms.stop();
  }
});

test('profile 3: certificate CN checked against the identity when asked', async () => {
  const csms = await startCsms({ port: 0, tls: tlsServer(good, { requestCert: true, clientCommonNames: { 'CP-2': 'CP-2' } }) });
  try {
    const cert = { ca: good.ca, key: good.clientKey, cert: good.clientCert };   // CN=CP-1
    assert.equal(await tryConnect(csms, 'CP-2', cert), 401);
    assert.equal(await tryConnect(csms, 'CP-1', cert), 'Accepted');
  } finally {
    await csms.stop();
  }
});

test('profile 2: TLS server certificate plus Basic auth', async () => {
  const csms = await startCsms({ port: 0, tls: tlsServer(good), basicAuth: { 'CP-1': 'sixteen-chars-pw' } });
  try {
    assert.equal(await tryConnect(csms, 'CP-1', { ca: good.ca }, { password: 'sixteen-chars-pw' }), 'Accepted');
    assert.equal(await tryConnect(csms, 'CP-1', { ca: good.ca }, { password: 'sixteen-chars-px' }), 401);
    assert.equal(await upgradeStatus({ port: csms.port, path: '/ocpp/CP-1', tls: { ca: good.ca } }), 400);
    const conn = await csms.waitConnected('CP-1');
    assert.equal(conn.auth, 'tls+basic');
  } finally {
    await csms.stop();
  }
});
