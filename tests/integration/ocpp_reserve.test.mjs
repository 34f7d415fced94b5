// ocpp_reserve.test.mjs: the Reservation profile of wattstreamd against the
// strict test CSMS and the simulated charger: ReserveNow (Accepted,
// Occupied, Rejected for connector 0, replacement by reservationId),
// Reserved status, other idTags refused on the reserved connector, the
// reserved idTag's StartTransaction carrying the reservationId,
// CancelReservation, expiry, and a reservation kept across a restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startCsms } from '../../sim/csms/csms.mjs';
import { cleanup, startDaemon, startSim, stopAll, tempDir, until } from './lib/proc.mjs';
import { ocppConfig } from './lib/ocpp-rig.mjs';

const ID = 'CP-resv-1';

const inSeconds = (s) => new Date(Date.now() + s * 1000).toISOString();

describe('reservations', () => {
  let dir, csms, sim, d;
  const status = async () => (await d.ctl.cmd('status')).connectors[0];
  const statusIs = (s, m) => csms.waitFor('StatusNotification', (x) => x.params.connectorId === 1 && x.params.status === s, 5000, { since: m });
  before(async () => {
    dir = tempDir();
    csms = await startCsms({ port: 0, heartbeatInterval: 300, log: false });
    sim = await startSim(dir, ['--power-kw', '22']);
    await sim.ctl.cmd('unplug 1');
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID, maxPowerKw: 22 }));
    await csms.waitFor('StatusNotification', (r) => r.params.connectorId === 1 && r.params.status === 'Available');
  });
  after(async () => {
    await stopAll();
    await csms.stop();
    cleanup(dir);
  });

  test('the profile and its key are announced', async () => {
    const r = await csms.call(ID, 'GetConfiguration', { key: ['SupportedFeatureProfiles', 'ReserveConnectorZeroSupported'] });
    const v = Object.fromEntries(r.configurationKey.map((k) => [k.key, k.value]));
    assert.ok(v.SupportedFeatureProfiles.split(',').includes('Reservation'));
    assert.equal(v.ReserveConnectorZeroSupported, 'false');
  });

  test('connector 0 and an expiry in the past are Rejected; an unknown reservation is not cancelled', async () => {
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 0, expiryDate: inSeconds(60), idTag: 'R-1', reservationId: 1 })).status, 'Rejected');
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(-60), idTag: 'R-1', reservationId: 1 })).status, 'Rejected');
    assert.equal((await csms.call(ID, 'CancelReservation', { reservationId: 99 })).status, 'Rejected');
    assert.equal(csms.statuses.get(ID).get(1).status, 'Available');
  });

  test('a reserved connector is Reserved, refuses other idTags and starts the reserved one with its reservationId', async () => {
    let m = csms.mark();
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(120), idTag: 'R-1', reservationId: 11 })).status, 'Accepted');
    await statusIs('Reserved', m);
    // a second reservation on the same connector: Occupied; the same id: replaced
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(120), idTag: 'R-2', reservationId: 12 })).status, 'Occupied');
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(120), idTag: 'R-3', reservationId: 11 })).status, 'Accepted');
    // the EV arrives: still Reserved
    m = csms.mark();
    await sim.ctl.cmd('plug 1');
    await until(async () => (await status()).ev === 'plugged', { what: 'plugged' });
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(csms.received('StatusNotification', { since: m }).filter((x) => x.params.connectorId === 1 && x.params.status !== 'Reserved').length, 0);
    // R-1 no longer holds it (replaced by R-3); a stranger neither
    for (const tag of ['R-1', 'STRANGER']) {
      m = csms.mark();
      await d.ctl.cmd(`start 1 ${tag}`);
      await csms.waitFor('Authorize', (x) => x.params.idTag === tag, 5000, { since: m });
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(csms.received('StartTransaction', { since: m }).length, 0, `${tag} started on a reserved connector`);
      assert.equal((await status()).contactor, 'open');
    }
    // nor from the Central System for a stranger
    assert.equal((await csms.call(ID, 'RemoteStartTransaction', { connectorId: 1, idTag: 'STRANGER' })).status, 'Rejected');
    // the reserved idTag
    m = csms.mark();
    assert.equal((await d.ctl.cmd('start 1 R-3')).ok, true);
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m, replied: true });
    assert.equal(st.params.idTag, 'R-3');
    assert.equal(st.params.reservationId, 11);
    await statusIs('Charging', m);
    // the reservation ended with the transaction
    assert.equal((await csms.call(ID, 'CancelReservation', { reservationId: 11 })).status, 'Rejected');
    m = csms.mark();
    await d.ctl.cmd('stop 1');
    await csms.waitFor('StopTransaction', null, 5000, { since: m });
    await sim.ctl.cmd('unplug 1');
    await statusIs('Available', m);
  });

  test('CancelReservation frees the connector; a busy connector is Occupied', async () => {
    let m = csms.mark();
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(120), idTag: 'R-4', reservationId: 21 })).status, 'Accepted');
    await statusIs('Reserved', m);
    m = csms.mark();
    assert.equal((await csms.call(ID, 'CancelReservation', { reservationId: 21 })).status, 'Accepted');
    await statusIs('Available', m);
    // an EV plugged in (Preparing): Occupied
    await sim.ctl.cmd('plug 1');
    await until(async () => (await status()).ev === 'plugged', { what: 'plugged' });
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(120), idTag: 'R-5', reservationId: 22 })).status, 'Occupied');
    await sim.ctl.cmd('unplug 1');
    await until(async () => (await status()).ev === 'unplugged', { what: 'unplugged' });
  });

  test('a reservation ends at its expiry date', async () => {
    await new Promise((res) => setTimeout(res, 300));
    const m = csms.mark();
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(2), idTag: 'R-6', reservationId: 31 })).status, 'Accepted');
    await statusIs('Reserved', m);
    const t0 = Date.now();
    await statusIs('Available', m);
    assert.ok(Date.now() - t0 >= 1000, 'freed before its expiry');
    assert.equal((await csms.call(ID, 'CancelReservation', { reservationId: 31 })).status, 'Rejected');
  });

  test('a reservation survives a restart of the daemon', async () => {
    assert.equal((await csms.call(ID, 'ReserveNow', { connectorId: 1, expiryDate: inSeconds(120), idTag: 'R-7', reservationId: 41 })).status, 'Accepted');
    await d.stop();
    const m = csms.mark();
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID, maxPowerKw: 22 }));
    await statusIs('Reserved', m);
    assert.equal((await csms.call(ID, 'CancelReservation', { reservationId: 41 })).status, 'Accepted');
  });
});
