// Self-tests of who the test CSMS lets in: the ocpp1.6 subprotocol is
// mandatory (ocpp-rpc would serve such clients without strict mode), the
// URL path and identity list give 404, Basic auth (security profile 1) 401.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCsms } from '../csms.mjs';
import { chargePoint, upgradeStatus, BOOT } from './helpers.mjs';

async function withCsms(opts, fn) {
  const csms = await startCsms({ port: 0, ...opts });
  try {
    await fn(csms);
  } finally {
    await csms.stop();
  }
}

// Connects an RPCClient and returns the HTTP status of the refusal, or 101.
async function connectStatus(csms, identity, opts) {
  const c = chargePoint(csms, identity, opts);
  try {
    await c.connect();
    return 101;
  } catch (err) {
    if (typeof err.code === 'number')
      return err.code;
    throw err;
  } finally {
    await c.close({ force: true });
  }
}

test('a client without the ocpp1.6 subprotocol is refused with 400 and recorded', async () => {
  await withCsms({}, async (csms) => {
    const port = csms.port;
    assert.equal(await upgradeStatus({ port, path: '/ocpp/CP-1' }), 400);
    assert.equal(await upgradeStatus({ port, path: '/ocpp/CP-1', protocol: 'ocpp2.0.1' }), 400);
    assert.equal(await upgradeStatus({ port, path: '/ocpp/CP-1', protocol: 'ocpp1.5, ocpp1.6j' }), 400);
    // an ocpp-rpc client that offers no subprotocol (and so would run unvalidated)
    const loose = chargePoint(csms, 'CP-1', { protocols: [], strictMode: false });
    await assert.rejects(loose.connect(), (err) => err.code === 400);
    await loose.close({ force: true });
    const refused = csms.connections.filter((r) => r.kind === 'refused');
    assert.equal(refused.length, 4);
    assert.ok(refused.every((r) => r.status === 400 && r.identity === 'CP-1'));
    assert.deepEqual(refused[2].offeredProtocols, ['ocpp1.5', 'ocpp1.6j']);
    assert.equal(csms.connections.filter((r) => r.kind === 'connect').length, 0);
    // the same request with the subprotocol among others is served, with ocpp1.6
    assert.equal(await upgradeStatus({ port, path: '/ocpp/CP-1', protocol: 'ocpp2.0.1, ocpp1.6' }), 101);
    const conn = await csms.waitConnected('CP-1');
    assert.equal(conn.protocol, 'ocpp1.6');
    assert.deepEqual(conn.offeredProtocols, ['ocpp2.0.1', 'ocpp1.6']);
  });
});

test('wrong path, unknown identity, empty or malformed identity give 404/400', async () => {
  await withCsms({ identities: ['CP-1', 'CP 2'], path: '/ocpp/v16' }, async (csms) => {
    const port = csms.port;
    const st = (path) => upgradeStatus({ port, path, protocol: 'ocpp1.6' });
    assert.equal(await st('/ocpp/CP-1'), 404);
    assert.equal(await st('/other/v16/CP-1'), 404);
    assert.equal(await st('/ocpp/v16/CP-3'), 404);
    assert.equal(await st('/ocpp/v16/'), 404);
    assert.equal(await st('/ocpp/v16/%E0%A4%A'), 400);
    assert.equal(await connectStatus(csms, 'CP-9'), 404);
    assert.equal(await connectStatus(csms, 'CP 2'), 101);   // percent-encoded identity
    assert.equal(await connectStatus(csms, 'CP-1'), 101);
    const ids = csms.connections.filter((r) => r.kind === 'connect').map((r) => r.identity);
    assert.deepEqual(ids, ['CP 2', 'CP-1']);
    assert.equal(csms.connections.filter((r) => r.kind === 'refused').length, 6);
  });
});

test('basic auth: right password accepted, wrong, missing or other user refused with 401', async () => {
  await withCsms({ basicAuth: { 'CP-1': 'secret-password-1', 'CP-2': 'pw:with:colons' } }, async (csms) => {
    assert.equal(await connectStatus(csms, 'CP-1', { password: 'secret-password-1' }), 101);
    assert.equal(await connectStatus(csms, 'CP-2', { password: 'pw:with:colons' }), 101);
    assert.equal(await connectStatus(csms, 'CP-1', { password: 'secret-password-2' }), 401);
    assert.equal(await connectStatus(csms, 'CP-1', { password: 'secret-password-1x' }), 401);
    assert.equal(await connectStatus(csms, 'CP-1', { password: '' }), 401);
    assert.equal(await connectStatus(csms, 'CP-1'), 401);
    assert.equal(await connectStatus(csms, 'CP-3', { password: 'secret-password-1' }), 401);
    // CP-2's password presented for user CP-2 on CP-1's URL
    const other = 'Basic ' + Buffer.from('CP-2:pw:with:colons').toString('base64');
    assert.equal(await upgradeStatus({ port: csms.port, path: '/ocpp/CP-1', protocol: 'ocpp1.6',
      headers: { Authorization: other } }), 401);
    assert.equal(await upgradeStatus({ port: csms.port, path: '/ocpp/CP-1', protocol: 'ocpp1.6',
      headers: { Authorization: 'Basic !!!not-base64' } }), 401);
    const connects = csms.connections.filter((r) => r.kind === 'connect');
    assert.deepEqual(connects.map((r) => [r.identity, r.auth]), [['CP-1', 'basic'], ['CP-2', 'basic']]);
    const refused = csms.connections.filter((r) => r.kind === 'refused');
    assert.equal(refused.length, 7);
    assert.ok(refused.every((r) => r.status === 401));
    assert.ok(refused.some((r) => r.reason === 'no Basic credentials'));
  });
});

test('an accepted client is served in strict mode', async () => {
  await withCsms({ basicAuth: { 'CP-1': 'pw-pw-pw-pw-pw-pw' } }, async (csms) => {
    const c = chargePoint(csms, 'CP-1', { password: 'pw-pw-pw-pw-pw-pw' });
    await c.connect();
    try {
      assert.equal((await c.call('BootNotification', BOOT)).status, 'Accepted');
      c.sendRaw(JSON.stringify([2, 'bad-1', 'Heartbeat', { extra: true }]));
      const f = await csms.waitFor('Heartbeat', null, 2000, { replied: true });
      assert.equal(f.response.type, 'CALLERROR');
      assert.equal(f.response.errorCode, 'PropertyConstraintViolation');
      assert.equal(csms.validationFailures.length, 1);
    } finally {
      await c.close({ force: true });
    }
  });
});
