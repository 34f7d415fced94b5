// Self-tests of the test CSMS's default answers and recording: a strict
// ocpp-rpc client plays the charge point over loopback.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCsms, NOREPLY, callError, createRPCError, CP_ACTIONS } from '../csms.mjs';
import { chargePoint, BOOT } from './helpers.mjs';

async function withCsms(opts, fn) {
  const csms = await startCsms({ port: 0, ...opts });
  const clients = [];
  try {
    await fn(csms, (id, o) => {
      const c = chargePoint(csms, id, o);
      clients.push(c);
      return c;
    });
  } finally {
    await Promise.all(clients.map((c) => c.close({ force: true })));
    await csms.stop();
  }
}

test('boot and heartbeat: answers, records, interval, currentTime', async () => {
  await withCsms({ heartbeatInterval: 42 }, async (csms, cp) => {
    const c = cp('CP-1');
    await c.connect();
    const conn = await csms.waitConnected('CP-1');
    assert.equal(conn.protocol, 'ocpp1.6');
    assert.deepEqual(conn.offeredProtocols, ['ocpp1.6']);
    assert.equal(conn.auth, 'none');
    const boot = await c.call('BootNotification', BOOT);
    assert.equal(boot.status, 'Accepted');
    assert.equal(boot.interval, 42);
    assert.ok(Math.abs(Date.parse(boot.currentTime) - Date.now()) < 5000);
    const hb = await c.call('Heartbeat', {});
    assert.ok(!Number.isNaN(Date.parse(hb.currentTime)));

    const rec = await csms.waitFor('BootNotification');   // arrived before the wait
    assert.equal(rec.identity, 'CP-1');
    assert.deepEqual(rec.params, BOOT);
    assert.equal(JSON.parse(rec.raw)[2], 'BootNotification');
    assert.equal(rec.response.type, 'CALLRESULT');
    assert.equal(rec.response.result.interval, 42);
    assert.ok(!Number.isNaN(Date.parse(rec.time)));
    assert.equal(csms.received('Heartbeat').length, 1);
    assert.equal(csms.received().length, 2);
    assert.deepEqual(csms.validationFailures, []);
    assert.deepEqual(csms.violations, []);
  });
});

test('bootStatus changes at run time, also per identity', async () => {
  await withCsms({ bootStatus: 'Pending' }, async (csms, cp) => {
    const c = cp('CP-2');
    await c.connect();
    assert.equal((await c.call('BootNotification', BOOT)).status, 'Pending');
    csms.bootStatus = 'Rejected';
    assert.equal((await c.call('BootNotification', BOOT)).status, 'Rejected');
    csms.setBootStatus('Accepted', 'CP-2');
    assert.equal((await c.call('BootNotification', BOOT)).status, 'Accepted');
    assert.throws(() => { csms.bootStatus = 'Maybe'; }, TypeError);
    assert.deepEqual(csms.validationFailures, []);
  });
});

test('default answers for every charge-point-initiated action pass strict validation', async () => {
  await withCsms({}, async (csms, cp) => {
    const c = cp('CP-3');
    await c.connect();
    const ts = new Date().toISOString();
    const calls = {
      BootNotification: BOOT,
      Heartbeat: {},
      StatusNotification: { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: ts },
      Authorize: { idTag: 'TAG1' },
      StartTransaction: { connectorId: 1, idTag: 'TAG1', meterStart: 100, timestamp: ts },
      StopTransaction: { transactionId: 1, meterStop: 600, timestamp: ts, idTag: 'TAG1', reason: 'Local' },
      MeterValues: { connectorId: 1, meterValue: [{ timestamp: ts, sampledValue: [{ value: '1.5' }] }] },
      DataTransfer: { vendorId: 'org.wattstream', messageId: 'PaymentTotal', data: '{}' },
      DiagnosticsStatusNotification: { status: 'Idle' },
      FirmwareStatusNotification: { status: 'Idle' },
      SecurityEventNotification: { type: 'StartupOfTheDevice', timestamp: ts },
      SignCertificate: { csr: '-----BEGIN CERTIFICATE REQUEST-----' },
      LogStatusNotification: { status: 'Idle' },
      SignedFirmwareStatusNotification: { status: 'Idle' },
    };
    assert.deepEqual(Object.keys(calls).sort(), [...CP_ACTIONS].sort());
    const answers = {};
    for (const [action, params] of Object.entries(calls))
      answers[action] = await c.call(action, params);
    assert.deepEqual(answers.Authorize, { idTagInfo: { status: 'Accepted' } });
    assert.equal(answers.StartTransaction.transactionId, 1);
    assert.deepEqual(answers.StopTransaction, { idTagInfo: { status: 'Accepted' } });
    assert.deepEqual(answers.DataTransfer, { status: 'Accepted' });
    assert.deepEqual(answers.SignCertificate, { status: 'Accepted' });
    assert.deepEqual(answers.MeterValues, {});
    const tx = csms.transactions.get(1);
    assert.equal(tx.meterStart, 100);
    assert.equal(tx.meterStop, 600);
    assert.equal(tx.reason, 'Local');
    assert.equal(csms.statuses.get('CP-3').get(1).status, 'Available');
    assert.equal(csms.received().length, CP_ACTIONS.length);
    assert.deepEqual(csms.validationFailures, []);
    assert.deepEqual(csms.badMessages, []);
  });
});

test('Authorize statuses, increasing transaction ids, DataTransfer vendors', async () => {
  await withCsms({ firstTransactionId: 7 }, async (csms, cp) => {
    const c = cp('CP-4');
    await c.connect();
    csms.setIdTag('BLOCKED', 'Blocked').setIdTag('OLD', { status: 'Expired', expiryDate: '2020-01-01T00:00:00Z' });
    csms.setIdTag('GONE', 'Invalid').setIdTag('BUSY', 'ConcurrentTx');
    assert.throws(() => csms.setIdTag('X', 'Nope'), TypeError);
    for (const [tag, status] of [['BLOCKED', 'Blocked'], ['GONE', 'Invalid'], ['BUSY', 'ConcurrentTx'], ['NEW', 'Accepted']])
      assert.equal((await c.call('Authorize', { idTag: tag })).idTagInfo.status, status);
    assert.deepEqual((await c.call('Authorize', { idTag: 'OLD' })).idTagInfo,
      { status: 'Expired', expiryDate: '2020-01-01T00:00:00Z' });
    const ts = new Date().toISOString();
    const a = await c.call('StartTransaction', { connectorId: 1, idTag: 'NEW', meterStart: 0, timestamp: ts });
    const b = await c.call('StartTransaction', { connectorId: 2, idTag: 'BLOCKED', meterStart: 5, timestamp: ts });
    assert.equal(a.transactionId, 7);
    assert.equal(b.transactionId, 8);
    assert.equal(b.idTagInfo.status, 'Blocked');
    assert.deepEqual(await c.call('StopTransaction', { transactionId: 7, meterStop: 10, timestamp: ts }), {});
    assert.equal(csms.transactions.get(7).reason, 'Local');
    assert.equal((await c.call('DataTransfer', { vendorId: 'com.other' })).status, 'UnknownVendorId');
    assert.equal((await c.call('DataTransfer', { vendorId: 'org.wattstream' })).status, 'Accepted');
    assert.deepEqual(csms.validationFailures, []);
  });
});

test('handlers: override, CALLERROR code exactly as given, no answer, restore default', async () => {
  await withCsms({}, async (csms, cp) => {
    const c = cp('CP-5', { callTimeoutMs: 300 });
    await c.connect();
    let seen;
    csms.handle('Heartbeat', async ({ identity, params, messageId }) => {
      seen = { identity, params, messageId };
      return { currentTime: '2030-01-01T00:00:00.000Z' };
    });
    assert.equal((await c.call('Heartbeat', {})).currentTime, '2030-01-01T00:00:00.000Z');
    assert.equal(seen.identity, 'CP-5');
    assert.equal(typeof seen.messageId, 'string');

    // the 1.6 table's one-r spelling must travel unchanged (ocpp-rpc would rewrite it)
    csms.handle('Authorize', () => { throw callError('OccurenceConstraintViolation', 'no', { k: 1 }); });
    await assert.rejects(c.call('Authorize', { idTag: 'T' }), (err) => {
      assert.equal(err.rpcErrorCode, 'OccurenceConstraintViolation');
      assert.deepEqual(err.details, { k: 1 });
      return true;
    });
    const errFrame = csms.messages.filter((r) => r.direction === 'out' && r.type === 'CALLERROR').at(-1);
    assert.equal(errFrame.errorCode, 'OccurenceConstraintViolation');
    assert.equal(errFrame.action, 'Authorize');

    csms.handle('Authorize', () => { throw createRPCError('FormatViolation', 'as given'); });
    await assert.rejects(c.call('Authorize', { idTag: 'T' }),
      (err) => err.rpcErrorCode === 'FormatViolation' && err.message === 'as given');

    csms.handle('Authorize', () => { throw new Error('bug in a handler'); });
    await assert.rejects(c.call('Authorize', { idTag: 'T' }), (err) => err.rpcErrorCode === 'InternalError');

    csms.handle('MeterValues', () => NOREPLY);
    await assert.rejects(c.call('MeterValues', { connectorId: 0, meterValue: [] }),
      (err) => err.name === 'TimeoutError' || /timeout/i.test(err.message));
    const mv = await csms.waitFor('MeterValues');
    assert.equal(mv.response, undefined);

    // an answer that breaks the .conf schema is not sent: ocpp-rpc records it
    csms.handle('Heartbeat', () => ({ currentTime: 'yesterday' }));
    await assert.rejects(c.call('Heartbeat', {}), (err) => err.rpcErrorCode === 'InternalError');
    assert.equal(csms.validationFailures.length, 1);
    assert.equal(csms.validationFailures[0].direction, 'out');
    assert.equal(csms.validationFailures[0].action, 'Heartbeat');

    csms.handle('Heartbeat', null);
    assert.notEqual((await c.call('Heartbeat', {})).currentTime, 'yesterday');
    csms.handle('Authorize', null);
    assert.equal((await c.call('Authorize', { idTag: 'T' })).idTagInfo.status, 'Accepted');
  });
});

test('waitFor: earlier records, only new ones, predicate, timeout, replied', async () => {
  await withCsms({}, async (csms, cp) => {
    const c = cp('CP-6');
    await c.connect();
    await c.call('Authorize', { idTag: 'A' });
    const mark = csms.mark();
    const pending = csms.waitFor('Authorize', { onlyNew: true, timeoutMs: 3000 });
    const pred = csms.waitFor('Authorize', (r) => r.params.idTag === 'C', 3000);
    await c.call('Authorize', { idTag: 'B' });
    await c.call('Authorize', { idTag: 'C' });
    assert.equal((await pending).params.idTag, 'B');
    assert.equal((await pred).params.idTag, 'C');
    assert.equal((await csms.waitFor('Authorize')).params.idTag, 'A');
    assert.equal((await csms.waitFor('Authorize', null, 1000, { since: mark })).params.idTag, 'B');
    assert.equal(csms.received('Authorize', { since: mark }).length, 2);
    const r = await csms.waitFor('Authorize', (x) => x.params.idTag === 'B', 1000, { replied: true });
    assert.equal(r.response.result.idTagInfo.status, 'Accepted');
    await assert.rejects(csms.waitFor('Heartbeat', 100), /timed out after 100 ms/);
    await assert.rejects(csms.waitFor('Authorize', (x) => x.params.idTag === 'Z', 100), /timed out/);
    await assert.rejects(csms.waitFor('Authorize', () => { throw new Error('broken predicate'); }, 100),
      /broken predicate/);
    assert.equal((await c.call('Authorize', { idTag: 'D' })).idTagInfo.status, 'Accepted');
  });
});

test('a second CALL while the first is unanswered is recorded as a violation', async () => {
  await withCsms({}, async (csms, cp) => {
    const c = cp('CP-7', { callConcurrency: 2 });
    await c.connect();
    let release;
    const gate = new Promise((resolve) => { release = resolve; });
    csms.handle('Authorize', async () => {
      await gate;
      return { idTagInfo: { status: 'Accepted' } };
    });
    const first = c.call('Authorize', { idTag: 'A' });
    await csms.waitFor('Authorize');
    assert.deepEqual(csms.violations, []);
    const second = c.call('Heartbeat', {});
    const v = await csms.waitRecord((r) => r.kind === 'violation', { timeoutMs: 2000 });
    assert.equal(v.what, 'concurrent-call');
    assert.equal(csms.violations.length, 1);
    assert.equal(csms.violations[0].action, 'Heartbeat');
    release();
    await Promise.all([first, second]);
  });
});
