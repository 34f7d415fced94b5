// Self-tests of what a test scripts through the CSMS: strict-validation
// failures in both directions, calls to the charge point (results,
// CALLERRORs as received, timeouts), raw frames, outages and drops.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCsms, isCallError, CallError, NOREPLY } from '../csms.mjs';
import { chargePoint, upgradeStatus, BOOT } from './helpers.mjs';

async function withCp(opts, fn, cpOpts = {}) {
  const csms = await startCsms({ port: 0, ...opts });
  const c = chargePoint(csms, 'CP-1', cpOpts);
  try {
    await c.connect();
    await csms.waitConnected('CP-1');
    await fn(csms, c);
  } finally {
    await c.close({ force: true });
    await csms.stop();
  }
}

test('invalid CALLs from the charge point are refused and recorded as validation failures', async () => {
  await withCp({}, async (csms, c) => {
    c.sendRaw(JSON.stringify([2, 'm-1', 'BootNotification', { chargePointVendor: 'w' }]));
    c.sendRaw(JSON.stringify([2, 'm-2', 'StatusNotification',
      { connectorId: '1', errorCode: 'NoError', status: 'Available' }]));
    c.sendRaw(JSON.stringify([2, 'm-3', 'StartTransaction',
      { connectorId: 1, idTag: 'X'.repeat(21), meterStart: 0, timestamp: new Date().toISOString() }]));
    c.sendRaw(JSON.stringify([2, 'm-4', 'Heartbeat', { now: 1 }]));
    const codes = {};
    for (const id of ['m-1', 'm-2', 'm-3', 'm-4']) {
      const r = await csms.waitFor(null, (x) => x.messageId === id, 2000, { replied: true });
      assert.equal(r.response.type, 'CALLERROR');
      codes[r.action] = r.response.errorCode;
    }
    // ocpp-rpc's codes after its 1.6 rewrite (two r's in Occurrence)
    assert.deepEqual(codes, {
      BootNotification: 'OccurrenceConstraintViolation',
      StatusNotification: 'TypeConstraintViolation',
      StartTransaction: 'FormationViolation',
      Heartbeat: 'PropertyConstraintViolation',
    });
    assert.equal(csms.validationFailures.length, 4);
    assert.ok(csms.validationFailures.every((v) => v.direction === 'in' && v.isCall && v.identity === 'CP-1'));
    assert.equal(csms.transactions.size, 0);
    // an unknown action: NotImplemented, not a crash
    c.sendRaw(JSON.stringify([2, 'm-5', 'MakeCoffee', {}]));
    const u = await csms.waitFor('MakeCoffee', null, 2000, { replied: true });
    assert.equal(u.response.errorCode, 'NotImplemented');
    // garbage is recorded as a bad message, the connection stays up
    c.sendRaw('{not json');
    c.sendRaw('[2]');
    assert.equal((await c.call('Heartbeat', {})).currentTime.length > 0, true);
    assert.equal(csms.badMessages.length, 2);
    assert.equal(csms.messages.filter((r) => r.type === 'INVALID').length, 2);
  });
});

test('call: result, CALLERROR exactly as on the wire, timeout, invalid answer', async () => {
  await withCp({}, async (csms, c) => {
    c.handle('Reset', ({ params }) => ({ status: params.type === 'Soft' ? 'Accepted' : 'Rejected' }));
    c.handle('GetConfiguration', () => ({ configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }] }));
    assert.deepEqual(await csms.call('CP-1', 'Reset', { type: 'Soft' }), { status: 'Accepted' });
    assert.deepEqual(await csms.call('CP-1', 'Reset', { type: 'Hard' }), { status: 'Rejected' });
    assert.equal((await csms.call('CP-1', 'GetConfiguration', {})).configurationKey[0].value, '300');

    // a charge point that rejects the request: the code comes back untouched
    c.sendRaw('');   // ocpp-rpc ignores empty frames; keeps ordering honest
    const wire = [];
    c.on('message', ({ message, outbound }) => { if (outbound) wire.push(String(message)); });
    c.handle('UnlockConnector', () => {
      const e = new Error('connector busy');
      e.rpcErrorCode = 'OccurenceConstraintViolation';
      e.details = { connectorId: 3 };
      throw e;
    });
    const r = await csms.call('CP-1', 'UnlockConnector', { connectorId: 3 });
    assert.ok(isCallError(r));
    assert.ok(r instanceof CallError);
    assert.equal(r.errorCode, JSON.parse(wire.at(-1))[2]);
    assert.equal(r.errorDescription, 'connector busy');
    assert.deepEqual(r.errorDetails, { connectorId: 3 });
    assert.equal(JSON.parse(r.raw)[0], 4);
    c.handle('ClearCache', () => { throw Object.assign(new Error('x'), { rpcErrorCode: 'NotSupported' }); });
    assert.equal((await csms.call('CP-1', 'ClearCache', {})).errorCode, 'NotSupported');
    // codes ocpp-rpc does not know, or would respell, still come back as sent
    for (const code of ['OccurenceConstraintViolation', 'VendorSpecificCode']) {
      c.handle('GetLocalListVersion', ({ messageId }) => {
        c.sendRaw(JSON.stringify([4, messageId, code, 'as sent', {}]));
        return NOREPLY;
      });
      const e = await csms.call('CP-1', 'GetLocalListVersion', {});
      assert.equal(e.errorCode, code);
      assert.equal(e.errorDescription, 'as sent');
    }
    // no handler on the charge point: NotImplemented
    assert.equal((await csms.call('CP-1', 'DataTransfer', { vendorId: 'x' })).errorCode, 'NotImplemented');

    // never answered: rejects with a TimeoutError
    c.handle('ChangeAvailability', () => new Promise(() => {}));
    await assert.rejects(csms.call('CP-1', 'ChangeAvailability', { connectorId: 0, type: 'Inoperative' },
      { timeoutMs: 150 }), (err) => err.name === 'TimeoutError');

    // an answer that breaks the .conf schema is a strict-validation failure
    // (a strict ocpp-rpc client will not send one, so it goes out raw)
    c.handle('TriggerMessage', ({ messageId }) => {
      c.sendRaw(JSON.stringify([3, messageId, { status: 'Sure' }]));
      return NOREPLY;
    });
    await assert.rejects(csms.call('CP-1', 'TriggerMessage', { requestedMessage: 'Heartbeat' }),
      (err) => err.name === 'StrictValidationError' && err.result.status === 'Sure');
    assert.equal(csms.validationFailures.length, 1);
    assert.equal(csms.validationFailures[0].direction, 'in');
    assert.equal(csms.validationFailures[0].isCall, false);
    // an invalid request is not sent at all
    const before = csms.messages.length;
    await assert.rejects(csms.call('CP-1', 'Reset', { type: 'Sideways' }));
    assert.equal(csms.messages.length, before);
    assert.equal(csms.validationFailures.length, 2);
    await assert.rejects(csms.call('CP-9', 'Reset', { type: 'Soft' }), /not connected/);
    // the recorded frames name the action of each answer
    const answers = csms.messages.filter((m) => m.direction === 'in' && m.type !== 'CALL');
    assert.ok(answers.every((m) => typeof m.action === 'string'));
  }, { callTimeoutMs: 5000 });
});

test('sendRaw and waitRaw: malformed and invalid frames reach the charge point as they are', async () => {
  await withCp({}, async (csms, c) => {
    const got = [];
    c.on('message', ({ message, outbound }) => { if (!outbound) got.push(String(message)); });
    c.handle('Reset', () => ({ status: 'Accepted' }));
    csms.sendRaw('CP-1', '[2,"raw-1","Reset",{"type":"Bogus"}]');
    const reply = JSON.parse(await csms.waitRaw('CP-1'));
    assert.equal(reply[0], 4);
    assert.equal(reply[1], 'raw-1');
    assert.equal(reply[2], 'FormationViolation');
    assert.equal(got.at(-1), '[2,"raw-1","Reset",{"type":"Bogus"}]');

    csms.sendRaw('CP-1', '[2,"raw-2","Reset",{"type":"Soft"}]');
    assert.deepEqual(JSON.parse(await csms.waitRaw('CP-1')), [3, 'raw-2', { status: 'Accepted' }]);

    csms.sendRaw('CP-1', '[2, "raw-3", "Reset"');   // malformed JSON: ocpp-rpc answers with id "-1"
    const bad = await csms.waitRaw('CP-1', (raw, frame) => frame && frame[0] === 4, 2000);
    assert.equal(JSON.parse(bad)[2], 'RpcFrameworkError');
    assert.equal(got.at(-1), '[2, "raw-3", "Reset"');
    // replies to our raw CALLs are not counted as bad messages
    assert.deepEqual(csms.badMessages, []);
    await assert.rejects(csms.waitRaw('CP-1', () => false, 100), /timed out/);
    assert.throws(() => csms.sendRaw('CP-2', '[]'), /not connected/);
  });
});

test('goAway closes all, refuses with 503 for a while, then accepts again', async () => {
  await withCp({}, async (csms, c) => {
    const c2 = chargePoint(csms, 'CP-2');
    await c2.connect();
    await csms.waitConnected('CP-2');
    const closed = [new Promise((r) => c.once('close', r)), new Promise((r) => c2.once('close', r))];
    const t0 = Date.now();
    const { reopened } = await csms.goAway(1000);
    const codes = await Promise.all(closed);
    assert.deepEqual(codes.map((x) => x.code), [1001, 1001]);
    assert.equal(csms.isConnected('CP-1'), false);
    assert.equal(csms.connections.filter((r) => r.kind === 'disconnect').length, 2);
    const st = await upgradeStatus({ port: csms.port, path: '/ocpp/CP-1', protocol: 'ocpp1.6' });
    if (Date.now() - t0 < 1000)   // always, unless this machine stalled for a second
      assert.equal(st, 503);
    assert.equal((await csms.waitRefused('CP-1')).status, 503);
    await reopened;
    assert.ok(Date.now() - t0 >= 990);
    const m = csms.mark();
    await c.connect();
    await csms.waitConnected('CP-1', { since: m });
    assert.equal((await c.call('BootNotification', BOOT)).status, 'Accepted');
    await c2.close({ force: true });
  });
});

test('dropConnection cuts one charge point, graceful close sends a close frame; a new connection replaces the old', async () => {
  await withCp({}, async (csms, c) => {
    const closed = new Promise((r) => c.once('close', r));
    assert.equal(await csms.dropConnection('CP-1'), true);
    assert.equal((await closed).code, 1006);
    assert.equal(await csms.dropConnection('CP-1'), false);
    const m = csms.mark();
    await c.connect();
    await csms.waitConnected('CP-1', { since: m });
    const closed2 = new Promise((r) => c.once('close', r));
    await csms.dropConnection('CP-1', { graceful: true, code: 4000 });
    assert.equal((await closed2).code, 4000);
    const d = await csms.waitDisconnected('CP-1', { since: m });
    assert.equal(d.code, 4000);

    // the same identity connecting twice: the newer connection wins
    await c.connect();
    const dup = chargePoint(csms, 'CP-1');
    const oldClosed = new Promise((r) => c.once('close', r));
    const m2 = csms.mark();
    await dup.connect();
    await oldClosed;
    await csms.waitConnected('CP-1', { since: m2 });
    assert.equal(csms.isConnected('CP-1'), true);
    assert.equal((await dup.call('Heartbeat', {})).currentTime.length > 0, true);
    assert.equal((await csms.waitFor('Heartbeat')).identity, 'CP-1');
    await dup.close({ force: true });
  });
});

test('stop rejects pending waits and closes the port', async () => {
  const csms = await startCsms({ port: 0 });
  const w = csms.waitFor('BootNotification', 5000);
  await csms.stop();
  await assert.rejects(w, /stopped/);
  await assert.rejects(upgradeStatus({ port: csms.port, path: '/ocpp/CP-1', protocol: 'ocpp1.6' }),
    (err) => err.code === 'ECONNREFUSED');
});
