// ocpp_tx.test.mjs: transactions of wattstreamd against the strict test
// CSMS and the simulated charger: Authorize, StartTransaction with the
// meter's reading, periodic MeterValues, StopTransaction with its reason
// (Local, EVDisconnected, DeAuthorized, PowerLoss after kill -9), and
// delivery of queued messages, in order, after an outage.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startCsms } from '../../sim/csms/csms.mjs';
import { cleanup, startDaemon, startSim, stopAll, tempDir, until } from './lib/proc.mjs';
import { ocppConfig } from './lib/ocpp-rig.mjs';

const ID = 'CP-tx-1';

describe('transactions', () => {
  let dir, csms, sim, d;
  const status = async () => (await d.ctl.cmd('status')).connectors[0];
  before(async () => {
    dir = tempDir();
    csms = await startCsms({ port: 0, heartbeatInterval: 300, log: false });
    sim = await startSim(dir, ['--power-kw', '22']);
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID }));
    await csms.waitFor('StatusNotification', (r) => r.params.connectorId === 1);
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '1' })).status, 'Accepted');
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'MeterValuesSampledData', value: 'Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage' })).status, 'Accepted');
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'StopTxnSampledData', value: 'Energy.Active.Import.Register' })).status, 'Accepted');
  });
  after(async () => {
    await stopAll();
    await csms.stop();
    cleanup(dir);
  });

  test('an authorized idTag starts a transaction at the meter reading, MeterValues follow, Local stop', async () => {
    const m = csms.mark();
    const r = await d.ctl.cmd('start 1 TAG-1');
    assert.equal(r.ok, true, JSON.stringify(r));
    const auth = await csms.waitFor('Authorize', null, 5000, { since: m });
    assert.equal(auth.params.idTag, 'TAG-1');
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    assert.equal(st.params.idTag, 'TAG-1');
    assert.equal(st.params.connectorId, 1);
    assert.ok(Math.abs(st.params.meterStart - 1234500) <= 1, `meterStart ${st.params.meterStart}`);
    const txId = st.response.result.transactionId;
    await csms.waitFor('StatusNotification', (x) => x.params.connectorId === 1 && x.params.status === 'Charging', 5000, { since: m });
    const mv = await csms.waitFor('MeterValues', null, 5000, { since: m });
    assert.equal(mv.params.transactionId, txId);
    const sv = mv.params.meterValue[0].sampledValue;
    const energy = sv.find((s) => s.measurand === 'Energy.Active.Import.Register');
    assert.equal(energy.unit, 'Wh');
    assert.equal(energy.context, 'Sample.Periodic');
    assert.ok(sv.some((s) => s.measurand === 'Voltage' && s.phase === 'L1-N'));
    assert.ok(sv.some((s) => s.measurand === 'Current.Import' && s.phase === 'L3'));
    // 10 Wh delivered, as the daemon's own meter reading shows it
    await until(async () => (await status()).reading.energy_wh >= st.params.meterStart + 10, { what: 'energy' });
    const m2 = csms.mark();
    assert.equal((await d.ctl.cmd('stop 1')).ok, true);
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m2 });
    assert.equal(stop.params.transactionId, txId);
    assert.equal(stop.params.reason, 'Local');
    const sim1 = await sim.ctl.cmd('status 1');
    assert.ok(stop.params.meterStop >= st.params.meterStart + 10);
    assert.ok(Math.abs(stop.params.meterStop - Math.floor(1234500 + sim1.true_energy_wh)) <= 1,
      `meterStop ${stop.params.meterStop} vs meter ${1234500 + sim1.true_energy_wh}`);
    // transactionData: Transaction.Begin first, Transaction.End last
    assert.equal(stop.params.transactionData[0].sampledValue[0].context, 'Transaction.Begin');
    assert.equal(stop.params.transactionData.at(-1).sampledValue[0].context, 'Transaction.End');
    // the EV is still plugged: Finishing, then Available once it leaves
    await csms.waitFor('StatusNotification', (x) => x.params.connectorId === 1 && x.params.status === 'Finishing', 5000, { since: m2 });
    await sim.ctl.cmd('unplug 1');
    await csms.waitFor('StatusNotification', (x) => x.params.connectorId === 1 && x.params.status === 'Available', 5000, { since: m2 });
    // no EV: the authorized idTag waits for one (ConnectionTimeOut); stop cancels it
    const m3 = csms.mark();
    assert.equal((await d.ctl.cmd('start 1 TAG-X')).ok, true);
    await csms.waitFor('StatusNotification', (x) => x.params.connectorId === 1 && x.params.status === 'Preparing', 5000, { since: m3 });
    assert.equal((await d.ctl.cmd('stop 1')).ok, true);
    await csms.waitFor('StatusNotification', (x) => x.params.connectorId === 1 && x.params.status === 'Available', 5000, { since: m3 });
    await sim.ctl.cmd('plug 1');
    await until(async () => (await status()).ev === 'plugged', { what: 'plugged' });
  });

  test('a refused idTag starts nothing', async () => {
    csms.setIdTag('BAD-1', 'Blocked');
    const m = csms.mark();
    await d.ctl.cmd('start 1 BAD-1');
    await csms.waitFor('Authorize', (x) => x.params.idTag === 'BAD-1', 5000, { since: m });
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(csms.received('StartTransaction', { since: m }).length, 0);
    assert.equal((await status()).contactor, 'open');
  });

  test('unplugging the EV ends the transaction (EVDisconnected) and opens the contactor', async () => {
    const m = csms.mark();
    await d.ctl.cmd('start 1 TAG-2');
    await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    await until(async () => (await status()).state === 'energized', { what: 'energized' });
    await sim.ctl.cmd('unplug 1');
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m });
    assert.equal(stop.params.reason, 'EVDisconnected');
    await until(async () => (await sim.ctl.cmd('status 1')).coil === 0, { what: 'contactor open' });
    await sim.ctl.cmd('plug 1');
    await until(async () => (await status()).ev === 'plugged', { what: 'plugged' });
  });

  test('a transaction whose idTag the CSMS refuses at StartTransaction ends DeAuthorized', async () => {
    csms.handle('StartTransaction', ({ params }) => ({ transactionId: 777, idTagInfo: { status: 'Invalid' } }));
    const m = csms.mark();
    await d.ctl.cmd('start 1 TAG-3');
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m });
    assert.equal(stop.params.reason, 'DeAuthorized');
    assert.equal(stop.params.transactionId, 777);
    csms.handle('StartTransaction', null);
    await until(async () => (await status()).contactor === 'open', { what: 'contactor open' });
  });

  test('messages of a transaction run through an outage arrive afterwards, in order, with the right id', async () => {
    const m = csms.mark();
    await d.ctl.cmd('start 1 TAG-4');
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    const txId = st.response.result.transactionId;
    const { reopened } = await csms.goAway(4500);
    await new Promise((res) => setTimeout(res, 3000));
    assert.ok((await d.ctl.cmd('stop 1')).ok);	// stop while offline: queued
    await reopened;
    const stop = await csms.waitFor('StopTransaction', null, 15000, { since: m });
    assert.equal(stop.params.transactionId, txId);
    const after_ = csms.received(undefined, { since: m }).filter((x) => x.params?.transactionId === txId);
    // MeterValues sampled offline came before the StopTransaction, in order
    const kinds = after_.map((x) => x.action);
    assert.equal(kinds[kinds.length - 1], 'StopTransaction');
    assert.ok(kinds.filter((k) => k === 'MeterValues').length >= 2, kinds.join(','));
    const times = after_.filter((x) => x.action === 'MeterValues').map((x) => Date.parse(x.params.meterValue[0].timestamp));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.deepEqual(csms.validationFailures, []);
  });

  test('kill -9 mid-transaction: after the restart it ends PowerLoss, nothing lost or doubled', async () => {
    const m = csms.mark();
    await d.ctl.cmd('start 1 TAG-5');
    // this transaction's, not one of the earlier test still draining
    const st = await csms.waitFor('StartTransaction', (x) => x.params.idTag === 'TAG-5', 5000, { since: m, replied: true });
    await until(async () => (await sim.ctl.cmd('status 1')).coil === 1, { what: 'closed' });
    // killed once the answer is in the store: the window between sending
    // and the answer (a resend, at most one duplicate) is another case
    await d.waitLine(new RegExp(`StartTransaction confirmed: transactionId ${st.response.result.transactionId},`), 5000);
    d.ctl.close();
    await d.stop('SIGKILL');
    // the contactor stays closed while nobody runs: energy keeps flowing
    assert.equal((await sim.ctl.cmd('status 1')).coil, 1);
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID }));
    const stop = await csms.waitFor('StopTransaction', null, 10000, { since: m });
    assert.equal(stop.params.reason, 'PowerLoss');
    assert.equal(stop.params.transactionId, st.response.result.transactionId);
    assert.equal((await sim.ctl.cmd('status 1')).coil, 0, 'opened at start');
    const meter = 1234500 + (await sim.ctl.cmd('status 1')).true_energy_wh;
    assert.ok(Math.abs(stop.params.meterStop - Math.floor(meter)) <= 1, `meterStop ${stop.params.meterStop} vs ${meter}`);
    assert.equal(csms.received('StartTransaction', { since: m }).filter((x) => x.params.idTag === 'TAG-5').length, 1,
      'no second StartTransaction');
    assert.equal(csms.received('StopTransaction', { since: m }).length, 1);
  });
});

describe('remote control by the Central System', () => {
  let dir, csms, sim, d;
  const status = async () => (await d.ctl.cmd('status')).connectors[0];
  const statusNote = (st, since) => csms.waitFor('StatusNotification',
    (x) => x.params.connectorId === 1 && x.params.status === st, 5000, { since });
  before(async () => {
    dir = tempDir();
    csms = await startCsms({ port: 0, heartbeatInterval: 300, log: false });
    sim = await startSim(dir, ['--power-kw', '11']);
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID }));
    await csms.waitFor('StatusNotification', (r) => r.params.connectorId === 1);
  });
  after(async () => {
    await stopAll();
    await csms.stop();
    cleanup(dir);
  });

  test('RemoteStartTransaction and RemoteStopTransaction', async () => {
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'AuthorizeRemoteTxRequests', value: 'true' })).status, 'Accepted');
    const m = csms.mark();
    assert.equal((await csms.call(ID, 'RemoteStartTransaction', { connectorId: 1, idTag: 'REMOTE-1' })).status, 'Accepted');
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    assert.equal(st.params.idTag, 'REMOTE-1');
    // AuthorizeRemoteTxRequests: authorized first
    assert.equal(csms.received('Authorize', { since: m }).length, 1);
    assert.equal((await csms.call(ID, 'RemoteStartTransaction', { connectorId: 1, idTag: 'REMOTE-2' })).status, 'Rejected', 'busy');
    assert.equal((await csms.call(ID, 'RemoteStopTransaction', { transactionId: 99999 })).status, 'Rejected');
    const txId = st.response.result.transactionId;
    assert.equal((await csms.call(ID, 'RemoteStopTransaction', { transactionId: txId })).status, 'Accepted');
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m });
    assert.equal(stop.params.reason, 'Remote');
    assert.equal(stop.params.transactionId, txId);
    await until(async () => (await status()).contactor === 'open', { what: 'open' });
  });

  test('ChangeAvailability: Inoperative now, kept across a restart; Scheduled during a transaction', async () => {
    let m = csms.mark();
    assert.equal((await csms.call(ID, 'ChangeAvailability', { connectorId: 1, type: 'Inoperative' })).status, 'Accepted');
    await statusNote('Unavailable', m);
    assert.match((await d.ctl.cmd('start 1 TAG-U')).error, /Unavailable/);
    await d.stop();
    m = csms.mark();
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID }));
    await statusNote('Unavailable', m);
    assert.equal((await csms.call(ID, 'ChangeAvailability', { connectorId: 1, type: 'Operative' })).status, 'Accepted');
    await statusNote('Preparing', m);
    // during a transaction the change waits for its end
    m = csms.mark();
    await d.ctl.cmd('start 1 TAG-S');
    await csms.waitFor('StartTransaction', null, 5000, { since: m });
    assert.equal((await csms.call(ID, 'ChangeAvailability', { connectorId: 0, type: 'Inoperative' })).status, 'Scheduled');
    await d.ctl.cmd('stop 1');
    await csms.waitFor('StopTransaction', null, 5000, { since: m });
    await statusNote('Unavailable', m);
    assert.equal((await csms.call(ID, 'ChangeAvailability', { connectorId: 0, type: 'Operative' })).status, 'Accepted');
  });

  test('UnlockConnector (no lock: NotSupported, but the transaction stops) and ClearCache', async () => {
    const m = csms.mark();
    await until(async () => (await d.ctl.cmd('start 1 TAG-L')).ok, { what: 'started' });
    await csms.waitFor('StartTransaction', null, 5000, { since: m });
    assert.equal((await csms.call(ID, 'UnlockConnector', { connectorId: 1 })).status, 'NotSupported');
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m });
    assert.equal(stop.params.reason, 'UnlockCommand');
    assert.equal((await csms.call(ID, 'ClearCache', {})).status, 'Accepted');
  });

  test('Reset stops the transaction (SoftReset) and restarts the process', async () => {
    let m = csms.mark();
    await until(async () => (await d.ctl.cmd('start 1 TAG-R')).ok, { what: 'started' });
    await csms.waitFor('StartTransaction', null, 5000, { since: m });
    m = csms.mark();
    assert.equal((await csms.call(ID, 'Reset', { type: 'Soft' })).status, 'Accepted');
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m });
    assert.equal(stop.params.reason, 'SoftReset');
    // the same process (exec keeps the PID) boots again
    await d.waitLine(/wattstreamd restarting/, 10000);
    await csms.waitFor('BootNotification', null, 15000, { since: m });
    assert.equal(d.child.exitCode, null, 'still running after the reset');
    assert.equal(csms.received('StopTransaction', { since: m }).length, 1, 'no second stop after the restart');
  });
});
