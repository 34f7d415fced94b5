// ocpp_meter.test.mjs: metering of wattstreamd against the strict test CSMS
// and the simulated charger: clock-aligned MeterValues (timestamps on the
// ClockAlignedDataInterval grid, Sample.Clock, transactionId only during a
// transaction), the StopTransaction's transactionData (Begin, Periodic,
// Clock, End, within StopTransactionMaxMeterValues, kept through kill -9),
// ConnectionTimeOut (an idTag waiting for the EV), and meterStop taken
// after the contactor opened (or from the last reading when the meter is
// dead).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startCsms } from '../../sim/csms/csms.mjs';
import { cleanup, startDaemon, startSim, stopAll, tempDir, until } from './lib/proc.mjs';
import { ocppConfig } from './lib/ocpp-rig.mjs';

const ID = 'CP-meter-1';
const CONF = { identity: ID, busTimeoutMs: 500, failsafeMs: 2000, maxPowerKw: 200 };
const ALIGNED_S = 2;

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const energyOf = (mv) => Number(mv.sampledValue.find((s) => s.measurand === 'Energy.Active.Import.Register').value);
const contextOf = (mv) => mv.sampledValue[0].context;
const clockValues = (csms, since) => csms.received('MeterValues', { since })
  .filter((x) => x.params.meterValue.some((v) => contextOf(v) === 'Sample.Clock'));

describe('metering', () => {
  let dir, csms, sim, d;
  const status = async () => (await d.ctl.cmd('status')).connectors[0];
  const statusNote = (st, since, ms = 5000) => csms.waitFor('StatusNotification',
    (x) => x.params.connectorId === 1 && x.params.status === st, ms, { since });
  const configure = async (key, value) =>
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key, value })).status, 'Accepted', key);
  // the register the sim shows, as the daemon reads it (float32 kWh)
  const register = async () => Math.floor((await sim.ctl.cmd('status 1')).register_energy_kwh * 1000);

  before(async () => {
    dir = tempDir();
    csms = await startCsms({ port: 0, heartbeatInterval: 300, log: false });
    sim = await startSim(dir, ['--power-kw', '150']);
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, CONF));
    await csms.waitFor('StatusNotification', (r) => r.params.connectorId === 1);
    await configure('MeterValueSampleInterval', '1');
    await configure('MeterValuesSampledData', 'Energy.Active.Import.Register');
    await configure('MeterValuesAlignedData', 'Energy.Active.Import.Register,Power.Active.Import');
    await configure('StopTxnSampledData', 'Energy.Active.Import.Register');
    await configure('StopTxnAlignedData', 'Energy.Active.Import.Register');
  });
  after(async () => {
    await stopAll();
    await csms.stop();
    cleanup(dir);
  });

  test('clock-aligned MeterValues outside a transaction: on the grid, Sample.Clock, no transactionId', async () => {
    const m = csms.mark();
    await configure('ClockAlignedDataInterval', String(ALIGNED_S));
    await until(() => clockValues(csms, m).length >= 3, { timeoutMs: 4 * ALIGNED_S * 1000, what: 'three aligned MeterValues' });
    const got = clockValues(csms, m);
    const stamps = got.map((x) => Date.parse(x.params.meterValue[0].timestamp));
    for (const [i, x] of got.entries()) {
      assert.equal(x.params.connectorId, 1);
      assert.equal(x.params.transactionId, undefined, 'no transaction: no transactionId');
      const mv = x.params.meterValue[0];
      assert.equal(stamps[i] % (ALIGNED_S * 1000), 0, `timestamp ${mv.timestamp} on the grid`);
      assert.ok(mv.sampledValue.every((s) => s.context === 'Sample.Clock'));
      assert.deepEqual(mv.sampledValue.map((s) => s.measurand).sort(),
        ['Energy.Active.Import.Register', 'Power.Active.Import']);
      // the value of that instant: sent right after it
      const late = Date.parse(x.time) - stamps[i];
      assert.ok(late >= 0 && late < 1000, `received ${late} ms after its instant`);
    }
    for (let i = 1; i < stamps.length; i++)
      assert.equal(stamps[i] - stamps[i - 1], ALIGNED_S * 1000, 'every instant once');
    // 0 turns them off at once
    await configure('ClockAlignedDataInterval', '0');
    const m2 = csms.mark();
    await sleep(ALIGNED_S * 1000 + 500);
    assert.equal(clockValues(csms, m2).length, 0);
    assert.deepEqual(csms.validationFailures, []);
  });

  test('a transaction: aligned values carry its id, transactionData has Begin/Periodic/Clock/End, meterStop after the open', async () => {
    await configure('ClockAlignedDataInterval', String(ALIGNED_S));
    const m = csms.mark();
    assert.equal((await d.ctl.cmd('start 1 TAG-M1')).ok, true);
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    const txId = st.response.result.transactionId;
    await until(() => clockValues(csms, m).some((x) => x.params.transactionId === txId),
      { timeoutMs: 3 * ALIGNED_S * 1000, what: 'an aligned MeterValues of the transaction' });
    await until(() => clockValues(csms, m).filter((x) => x.params.transactionId === txId).length >= 2,
      { timeoutMs: 3 * ALIGNED_S * 1000, what: 'two aligned MeterValues of the transaction' });
    // a slow contactor: energy flows for a while after the stop is asked
    await sim.ctl.cmd('delay 1 300');
    const m2 = csms.mark();
    const before = (await status()).reading.energy_wh;
    assert.equal((await d.ctl.cmd('stop 1')).ok, true);
    const stop = await csms.waitFor('StopTransaction', null, 10000, { since: m2 });
    await sim.ctl.cmd('delay 1 0');
    const sim1 = await sim.ctl.cmd('status 1');
    assert.equal(sim1.coil, 0);
    assert.equal(stop.params.transactionId, txId);
    assert.equal(stop.params.reason, 'Local');
    // meterStop: the register once the contactor was open, more than when asked
    assert.equal(stop.params.meterStop, await register(), 'meterStop is the register after the open');
    assert.ok(stop.params.meterStop > Math.floor(before), `meterStop ${stop.params.meterStop} vs ${before} at the stop`);
    const txValues = csms.received('MeterValues', { since: m }).filter((x) => x.params.transactionId === txId);
    const lastMv = Math.max(...txValues.flatMap((x) => x.params.meterValue.map(energyOf)));
    assert.ok(stop.params.meterStop >= lastMv, `meterStop ${stop.params.meterStop} >= ${lastMv}`);
    // transactionData
    const data = stop.params.transactionData;
    const contexts = data.map(contextOf);
    assert.equal(contexts[0], 'Transaction.Begin');
    assert.equal(energyOf(data[0]), st.params.meterStart);
    assert.equal(contexts.at(-1), 'Transaction.End');
    assert.equal(energyOf(data.at(-1)), stop.params.meterStop);
    assert.ok(contexts.includes('Sample.Periodic'), contexts.join());
    assert.ok(contexts.includes('Sample.Clock'), contexts.join());
    for (const v of data.filter((x) => contextOf(x) === 'Sample.Clock'))
      assert.equal(Date.parse(v.timestamp) % (ALIGNED_S * 1000), 0, v.timestamp);
    const times = data.map((v) => Date.parse(v.timestamp));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'in order');
    const energies = data.map(energyOf);
    assert.deepEqual(energies, [...energies].sort((a, b) => a - b), 'energy never goes back');
    const max = Number((await csms.call(ID, 'GetConfiguration', { key: ['StopTransactionMaxMeterValues'] }))
      .configurationKey[0].value);
    assert.ok(data.length >= 4 && data.length <= max, `${data.length} values, at most ${max}`);
    // after the transaction, aligned values have no transactionId again
    const m3 = csms.mark();
    await until(() => clockValues(csms, m3).length >= 1, { timeoutMs: 3 * ALIGNED_S * 1000, what: 'aligned value after' });
    assert.equal(clockValues(csms, m3)[0].params.transactionId, undefined);
    assert.deepEqual(csms.validationFailures, []);
  });

  test('kill -9: the transactionData kept before the crash is in the PowerLoss StopTransaction', async () => {
    await configure('ClockAlignedDataInterval', '0');
    const m = csms.mark();
    assert.equal((await d.ctl.cmd('start 1 TAG-M2')).ok, true);
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    await until(() => csms.received('MeterValues', { since: m }).length >= 2, { what: 'two periodic values' });
    const beforeKill = csms.received('MeterValues', { since: m }).map((x) => x.params.meterValue[0].timestamp);
    d.ctl.close();
    await d.stop('SIGKILL');
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, CONF));
    const stop = await csms.waitFor('StopTransaction', null, 10000, { since: m });
    assert.equal(stop.params.reason, 'PowerLoss');
    const data = stop.params.transactionData;
    assert.equal(contextOf(data[0]), 'Transaction.Begin');
    assert.equal(energyOf(data[0]), st.params.meterStart);
    assert.equal(contextOf(data.at(-1)), 'Transaction.End');
    assert.equal(energyOf(data.at(-1)), stop.params.meterStop);
    const periodic = data.filter((v) => contextOf(v) === 'Sample.Periodic').map((v) => v.timestamp);
    assert.ok(beforeKill.every((t) => periodic.includes(t)), `${beforeKill} in ${periodic}`);
  });

  test('ConnectionTimeOut: an idTag without an EV is Preparing, then cancelled', async () => {
    await configure('ConnectionTimeOut', '2');
    await sim.ctl.cmd('unplug 1');
    await until(async () => (await status()).ev === 'unplugged', { what: 'unplugged' });
    const coil = (await sim.ctl.cmd('status 1')).coil_changes;
    const m = csms.mark();
    const r = await d.ctl.cmd('start 1 TAG-W1');
    assert.equal(r.ok, true, JSON.stringify(r));
    const prep = await statusNote('Preparing', m);
    const avail = await statusNote('Available', m, 6000);
    const waited = Date.parse(avail.time) - Date.parse(prep.time);
    assert.ok(waited >= 1800 && waited < 4000, `cancelled after ${waited} ms`);
    assert.equal(csms.received('StartTransaction', { since: m }).length, 0);
    assert.equal((await sim.ctl.cmd('status 1')).coil_changes, coil, 'the contactor never moved');
    await d.waitLine(/idTag TAG-W1: session cancelled \(no EV plugged in within ConnectionTimeOut\)/, 1000);
    // the connector is free again
    assert.equal((await status()).ocpp_status, 'Available');
  });

  test('ConnectionTimeOut: plugging in within the time starts the transaction', async () => {
    await configure('ConnectionTimeOut', '10');
    const m = csms.mark();
    assert.equal((await d.ctl.cmd('start 1 TAG-W2')).ok, true);
    await statusNote('Preparing', m);
    assert.match((await d.ctl.cmd('start 1 TAG-W3')).error, /busy/);
    await sleep(1000);
    assert.equal(csms.received('StartTransaction', { since: m }).length, 0);
    await sim.ctl.cmd('plug 1');
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    assert.equal(st.params.idTag, 'TAG-W2');
    await statusNote('Charging', m);
    assert.equal((await sim.ctl.cmd('status 1')).coil, 1);
    const m2 = csms.mark();
    await d.ctl.cmd('stop 1');
    await csms.waitFor('StopTransaction', null, 5000, { since: m2 });
  });

  test('a dead meter does not lose the StopTransaction: meterStop from the last reading', async () => {
    const m = csms.mark();
    await until(async () => (await d.ctl.cmd('start 1 TAG-D1')).ok, { what: 'started' });
    await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    await until(async () => (await status()).state === 'energized', { what: 'energized' });
    await sim.ctl.cmd('freeze 1 on');
    const last = (await status()).reading.energy_wh;
    const t0 = Date.now();
    await d.ctl.cmd('stop 1');
    const stop = await csms.waitFor('StopTransaction', null, 15000, { since: m });
    const took = Date.now() - t0;
    await sim.ctl.cmd('freeze 1 off');
    assert.equal(stop.params.reason, 'Local');
    // no reading after the stop: the last one (at most one poll newer than ours)
    assert.ok(stop.params.meterStop >= Math.floor(last) && stop.params.meterStop <= Math.floor(last) + 10,
      `meterStop ${stop.params.meterStop} vs last reading ${last}`);
    // bounded: meter_failsafe_ms + 2 s
    assert.ok(took < 6000, `took ${took} ms`);
    await d.waitLine(/no meter reading after the contactor .*; meterStop from the last reading/, 1000);
    await until(async () => (await status()).state === 'ready', { timeoutMs: 15000, what: 'recovered' });
    assert.deepEqual(csms.validationFailures, []);
  });
});
