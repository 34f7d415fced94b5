// ocpp_core.test.mjs: wattstreamd as an OCPP 1.6-J charge point against the
// test CSMS (ocpp-rpc in strict mode: every message is schema-checked):
// registration (Accepted, Pending, Rejected), heartbeats, status
// notifications from the meter fail-safe, configuration keys (persisted,
// AuthorizationKey never disclosed), invalid CALLs, outages.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startCsms } from '../../sim/csms/csms.mjs';
import { cleanup, startDaemon, startSim, stopAll, tempDir, until } from './lib/proc.mjs';
import { ocppConfig } from './lib/ocpp-rig.mjs';

const ID = 'CP-it-1';
// the contactor sits on an I/O module of its own (unit 2), so a silent
// meter is a meter fault alone
const CONF = { identity: ID, maxPowerKw: 0, extraOcpp: 'vendor = wattstream-it\nmodel = sim',
  extraConnector: 'contactor_unit = 2' };

const statusOf = (csms, connectorId, since) => csms.waitFor('StatusNotification',
  (r) => r.params.connectorId === connectorId, 10000, { since });

describe('registration, heartbeat and status', () => {
  let dir, csms, sim, d;
  before(async () => {
    dir = tempDir();
    csms = await startCsms({ port: 0, heartbeatInterval: 1, log: false });
    sim = await startSim(dir, ['--connectors', '2']);
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, CONF));
  });
  after(async () => {
    await stopAll();
    await csms.stop();
    cleanup(dir);
  });

  test('boots with the ocpp1.6 subprotocol and is accepted', async () => {
    const c = await csms.waitConnected(ID);
    assert.equal(c.protocol, 'ocpp1.6');
    const boot = await csms.waitFor('BootNotification');
    assert.equal(boot.params.chargePointVendor, 'wattstream-it');
    assert.equal(boot.params.chargePointModel, 'sim');
  });

  test('reports connector 0 and connector 1 (EV plugged: Preparing)', async () => {
    const s0 = await statusOf(csms, 0);
    assert.equal(s0.params.status, 'Available');
    const s1 = await statusOf(csms, 1);
    assert.equal(s1.params.status, 'Preparing');
    assert.equal(s1.params.errorCode, 'NoError');
  });

  test('heartbeats at the interval the CSMS gave', async () => {
    const m = csms.mark();
    await csms.waitFor('Heartbeat', null, 5000, { since: m });
    await csms.waitFor('Heartbeat', null, 5000, { onlyNew: true });
  });

  test('a silent meter becomes Faulted / PowerMeterFailure, and Available again', async () => {
    await sim.ctl.cmd('unplug 1');
    const m0 = csms.mark();
    const av = await csms.waitFor('StatusNotification',
      (r) => r.params.connectorId === 1 && r.params.status === 'Available', 5000, { since: m0 });
    assert.ok(av);
    const m = csms.mark();
    await sim.ctl.cmd('freeze 1 on');
    const f = await csms.waitFor('StatusNotification',
      (r) => r.params.connectorId === 1 && r.params.status === 'Faulted', 5000, { since: m });
    assert.equal(f.params.errorCode, 'PowerMeterFailure');
    await sim.ctl.cmd('freeze 1 off');
    await csms.waitFor('StatusNotification',
      (r) => r.params.connectorId === 1 && r.params.status === 'Available', 5000, { since: f.seq });
  });

  test('GetConfiguration and ChangeConfiguration', async () => {
    let r = await csms.call(ID, 'GetConfiguration', {});
    const keys = Object.fromEntries(r.configurationKey.map((k) => [k.key, k]));
    assert.equal(keys.HeartbeatInterval.value, '1', 'interval from BootNotification');
    assert.equal(keys.NumberOfConnectors.value, '1');
    assert.equal(keys.NumberOfConnectors.readonly, true);
    assert.equal(keys.AuthorizationKey, undefined, 'write-only key never reported');
    r = await csms.call(ID, 'GetConfiguration', { key: ['MeterValueSampleInterval', 'NoSuchKey'] });
    assert.deepEqual(r.unknownKey, ['NoSuchKey']);
    assert.equal(r.configurationKey.length, 1);

    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '17' })).status, 'Accepted');
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'NumberOfConnectors', value: '2' })).status, 'Rejected');
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'HeartbeatInterval', value: 'often' })).status, 'Rejected');
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'NoSuchKey', value: '1' })).status, 'NotSupported');
    // the key is secret: set it, and it appears neither in reports nor in logs
    const secret = '0123456789abcdef0123456789abcdef01234567';
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'AuthorizationKey', value: secret })).status, 'Accepted');
    r = await csms.call(ID, 'GetConfiguration', { key: ['AuthorizationKey'] });
    assert.deepEqual(r.unknownKey, ['AuthorizationKey']);
    assert.ok(!d.output().includes(secret), 'AuthorizationKey in the log');
  });

  test('DataTransfer, TriggerMessage and unsupported actions', async () => {
    assert.equal((await csms.call(ID, 'DataTransfer', { vendorId: 'com.other' })).status, 'UnknownVendorId');
    const m = csms.mark();
    assert.equal((await csms.call(ID, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 })).status, 'Accepted');
    await csms.waitFor('StatusNotification', (r) => r.params.connectorId === 1, 5000, { since: m });
    assert.equal((await csms.call(ID, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).status, 'Accepted');
    // MeterValues on demand: the latest reading, context Trigger
    const m2 = csms.mark();
    assert.equal((await csms.call(ID, 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 1 })).status, 'Accepted');
    const mv = await csms.waitFor('MeterValues', (r) => r.params.connectorId === 1, 5000, { since: m2 });
    assert.equal(mv.params.transactionId, undefined);
    assert.equal(mv.params.meterValue[0].sampledValue[0].context, 'Trigger');
    assert.equal((await csms.call(ID, 'TriggerMessage', { requestedMessage: 'FirmwareStatusNotification' })).status, 'NotImplemented');
    // a profile not implemented (SmartCharging): NotSupported
    const e = await csms.call(ID, 'GetCompositeSchedule', { connectorId: 1, duration: 60 });
    assert.equal(e.errorCode, 'NotSupported');
  });

  test('invalid CALLs get the CALLERROR OCPP-J names, and the charge point keeps running', async () => {
    const cases = [
      ['[2,"m1","ChangeConfiguration",{"key":"HeartbeatInterval"}]', 'OccurenceConstraintViolation'],
      ['[2,"m2","ChangeConfiguration",{"key":5,"value":"1"}]', 'TypeConstraintViolation'],
      ['[2,"m3","ChangeConfiguration",{"key":"HeartbeatInterval","value":"1","x":1}]', 'FormationViolation'],
      ['[2,"m4","TriggerMessage",{"requestedMessage":"Coffee"}]', 'PropertyConstraintViolation'],
      ['[2,"m5","Brew",{}]', 'NotImplemented'],
      ['[2,"m6","ChangeConfiguration",{"key":"' + 'k'.repeat(60) + '","value":"1"}]', 'PropertyConstraintViolation'],
    ];
    for (const [frame, code] of cases) {
      csms.sendRaw(ID, frame);
      const raw = await csms.waitRaw(ID);
      const msg = JSON.parse(raw);
      assert.equal(msg[0], 4, raw);
      assert.equal(msg[2], code, raw);
    }
    csms.sendRaw(ID, '[2,"m7","Heartb');	// not even JSON
    await new Promise((res) => setTimeout(res, 200));
    assert.equal((await csms.call(ID, 'GetConfiguration', { key: ['HeartbeatInterval'] })).configurationKey.length, 1);
    assert.deepEqual(csms.validationFailures, [], 'every message of the charge point valid');
  });

  test('reconnects and boots again after the CSMS went away', async () => {
    const m = csms.mark();
    await csms.goAway(500);
    await csms.waitFor('BootNotification', null, 15000, { since: m });
    await csms.waitFor('StatusNotification', (r) => r.params.connectorId === 0, 5000, { since: m });
  });

  test('configuration set by the CSMS survives a restart', async () => {
    await d.stop();
    const m = csms.mark();
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, CONF));
    await csms.waitFor('BootNotification', null, 10000, { since: m });
    const r = await csms.call(ID, 'GetConfiguration', { key: ['MeterValueSampleInterval'] });
    assert.equal(r.configurationKey[0].value, '17');
  });
});

describe('registration refused for a while', () => {
  let dir, csms, sim, d;
  before(async () => {
    dir = tempDir();
    csms = await startCsms({ port: 0, heartbeatInterval: 1, bootStatus: 'Pending', log: false });
    sim = await startSim(dir, ['--connectors', '2']);
  });
  after(async () => {
    await stopAll();
    await csms.stop();
    cleanup(dir);
  });

  test('Pending: BootNotification again after the interval, nothing else; then Accepted', async () => {
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, CONF));
    await csms.waitFor('BootNotification');
    const m = csms.mark();
    await csms.waitFor('BootNotification', null, 5000, { since: m });	// interval 1 s
    // the CSMS may configure a Pending charge point
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '5' })).status, 'Accepted');
    assert.equal(csms.received('StatusNotification').length, 0, 'no other CALL before Accepted');
    assert.equal(csms.received('Heartbeat').length, 0);
    csms.bootStatus = 'Accepted';
    await csms.waitFor('StatusNotification', null, 5000);
  });

  test('Rejected: silent (link closed) until the interval ran out', async () => {
    csms.bootStatus = 'Rejected';
    const m = csms.mark();
    await csms.goAway(100);
    await csms.waitFor('BootNotification', null, 10000, { since: m });
    await csms.waitDisconnected(ID, { since: m });
    const m2 = csms.mark();
    csms.bootStatus = 'Accepted';
    await csms.waitFor('BootNotification', null, 10000, { since: m2 });
    await csms.waitFor('StatusNotification', null, 5000, { since: m2 });
  });
});
