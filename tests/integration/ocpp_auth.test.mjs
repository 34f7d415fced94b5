// ocpp_auth.test.mjs: authorization of wattstreamd against the strict test
// CSMS and the simulated charger: the Local Authorization List
// (SendLocalList Full / Differential, VersionMismatch, Failed, NotSupported,
// GetLocalListVersion), the Authorization Cache filled by the Central
// System's answers, LocalPreAuthorize, decisions offline (CSMS away, or
// Authorize answered with a CALLERROR): cache, list over cache, expired
// entries, AllowOfflineTxForUnknownId; ClearCache; list and cache across a
// daemon restart.  Every decision is read from the daemon's log line that
// names what decided it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { callError, isCallError, startCsms } from '../../sim/csms/csms.mjs';
import { cleanup, startDaemon, startSim, stopAll, tempDir, until } from './lib/proc.mjs';
import { ocppConfig } from './lib/ocpp-rig.mjs';

const ID = 'CP-auth-1';

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('authorization: local list, cache, offline', () => {
  let dir, csms, sim, d;
  const status = async () => (await d.ctl.cmd('status'));
  const call = (action, params) => csms.call(ID, action, params);
  const setKey = async (key, value) =>
    assert.equal((await call('ChangeConfiguration', { key, value })).status, 'Accepted', `${key}=${value}`);
  const listVersion = async () => (await call('GetLocalListVersion', {})).listVersion;
  const sendList = async (listVersion, updateType, list) =>
    (await call('SendLocalList', { listVersion, updateType, ...(list ? { localAuthorizationList: list } : {}) })).status;

  // Presents tag on connector 1 and resolves with the decision the daemon
  // logged: {accepted, status, by}.  An accepted session is stopped again.
  async function present(tag) {
    const from = d.lines().length;
    const r = await d.ctl.cmd(`start 1 ${tag}`);
    assert.equal(r.ok, true, JSON.stringify(r));
    const re = new RegExp(`ocpp: connector 1 idTag ${esc(tag)}: (accepted|refused) \\((\\w+)\\), decided by (.*)$`);
    const m = await until(() => d.lines().slice(from).map((l) => l.match(re)).find(Boolean),
      { what: `the decision on ${tag}` });
    const res = { accepted: m[1] === 'accepted', status: m[2], by: m[3] };
    if (res.accepted) {
      await until(async () => (await status()).connectors[0].transaction === true, { what: `${tag} transaction` });
      assert.equal((await d.ctl.cmd('stop 1')).ok, true);
    }
    await until(async () => {
      const c = (await status()).connectors[0];
      return c.state === 'ready' && c.contactor === 'open' && c.transaction === false;
    }, { what: `connector free after ${tag}` });
    return res;
  }

  // The Central System goes away for ms: resolves once the daemon is
  // offline, with a function that waits until it is registered again.
  async function away(ms) {
    const { reopened } = await csms.goAway(ms);
    await until(async () => (await status()).ocpp === 'offline', { what: 'offline' });
    return async () => {
      await reopened;
      await until(async () => (await status()).ocpp === 'accepted', { timeoutMs: 60000, everyMs: 200, what: 'registered again' });
    };
  }

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

  test('SendLocalList Full and Differential, VersionMismatch, Failed; GetLocalListVersion', async () => {
    assert.equal(await listVersion(), 0, 'empty list');
    assert.equal(await sendList(1, 'Full', [
      { idTag: 'LIST-OK', idTagInfo: { status: 'Accepted' } },
      { idTag: 'LIST-BLK', idTagInfo: { status: 'Blocked' } },
      { idTag: 'LIST-DEL', idTagInfo: { status: 'Accepted' } },
    ]), 'Accepted');
    assert.equal(await listVersion(), 1);
    // a differential update must raise the version
    assert.equal(await sendList(1, 'Differential', [{ idTag: 'X-1', idTagInfo: { status: 'Accepted' } }]), 'VersionMismatch');
    assert.equal(await listVersion(), 1);
    // an entry without idTagInfo deletes it
    assert.equal(await sendList(3, 'Differential', [{ idTag: 'LIST-DEL' }]), 'Accepted');
    assert.equal(await listVersion(), 3);
    // Failed, nothing changed: Full entry without idTagInfo, too many
    // entries (SendLocalListMaxLength 100), an idTag twice; listVersion 0
    // fails the schema (errata 3.52)
    assert.equal(await sendList(5, 'Full', [{ idTag: 'LIST-OK' }]), 'Failed');
    const many = Array.from({ length: 101 }, (_, i) => ({ idTag: `T-${i}`, idTagInfo: { status: 'Accepted' } }));
    assert.equal(await sendList(5, 'Full', many), 'Failed');
    const zero = await call('SendLocalList', { listVersion: 0, updateType: 'Full' });
    assert.ok(isCallError(zero), JSON.stringify(zero));
    assert.equal(zero.errorCode, 'PropertyConstraintViolation');
    assert.equal(await sendList(5, 'Full', [
      { idTag: 'DUP', idTagInfo: { status: 'Accepted' } }, { idTag: 'dup', idTagInfo: { status: 'Blocked' } },
    ]), 'Failed');
    assert.equal(await listVersion(), 3);
    const cfg = await call('GetConfiguration', { key: ['LocalAuthListMaxLength', 'SendLocalListMaxLength'] });
    assert.deepEqual(cfg.configurationKey.map((k) => k.value).sort(), ['100', '1000']);
  });

  test('the Central System\'s answers fill the cache; LocalPreAuthorize starts without Authorize', async () => {
    csms.setIdTag('EXP-1', { status: 'Accepted', expiryDate: new Date(Date.now() + 3000).toISOString() });
    for (const tag of ['CACHE-1', 'EXP-1', 'BOTH-1']) {
      const m = csms.mark();
      const r = await present(tag);
      assert.deepEqual(r, { accepted: true, status: 'Accepted', by: 'the Central System' });
      assert.equal(csms.received('Authorize', { since: m }).length, 1);
    }
    // now in the list as Blocked: the list takes precedence over the cache
    assert.equal(await sendList(4, 'Differential', [{ idTag: 'BOTH-1', idTagInfo: { status: 'Blocked' } }]), 'Accepted');
    await until(() => Date.now() > Date.parse(csms.idTagInfo('EXP-1').expiryDate) + 200, { what: 'EXP-1 expired' });

    await setKey('LocalPreAuthorize', 'true');
    let m = csms.mark();
    assert.deepEqual(await present('LIST-OK'), { accepted: true, status: 'Accepted', by: 'the local list (LocalPreAuthorize)' });
    assert.deepEqual(await present('CACHE-1'), { accepted: true, status: 'Accepted', by: 'the cache (LocalPreAuthorize)' });
    await until(() => csms.received('StopTransaction', { since: m }).length === 2, { what: 'stops delivered' });
    assert.deepEqual(csms.received('StartTransaction', { since: m }).map((x) => x.params.idTag), ['LIST-OK', 'CACHE-1']);
    assert.equal(csms.received('Authorize', { since: m }).length, 0, 'no Authorize.req for locally valid idTags');
    // expired in the cache, Blocked in the list, unknown: the Central System is asked
    csms.setIdTag('EXP-1', 'Blocked');
    m = csms.mark();
    assert.deepEqual(await present('EXP-1'), { accepted: false, status: 'Blocked', by: 'the Central System' });
    assert.deepEqual(await present('LIST-BLK'), { accepted: true, status: 'Accepted', by: 'the Central System' });
    assert.deepEqual(await present('NEW-1'), { accepted: true, status: 'Accepted', by: 'the Central System' });
    assert.deepEqual(csms.received('Authorize', { since: m }).map((x) => x.params.idTag), ['EXP-1', 'LIST-BLK', 'NEW-1']);
    await setKey('LocalPreAuthorize', 'false');
    csms.setIdTag('EXP-1', { status: 'Accepted', expiryDate: new Date(Date.now() - 60000).toISOString() });
    assert.deepEqual(await present('EXP-1'), { accepted: true, status: 'Accepted', by: 'the Central System' });
    await until(() => csms.received('StopTransaction', { since: m }).length === 3, { what: 'stops delivered' });
  });

  test('offline: the cache and the list decide for what they know, unknown idTags are refused', async () => {
    const m = csms.mark();
    const back = await away(20000);
    // idTags compare case-insensitively
    assert.deepEqual(await present('cache-1'), { accepted: true, status: 'Accepted', by: 'the cache (offline)' });
    assert.deepEqual(await present('EXP-1'), { accepted: false, status: 'Expired', by: 'the cache (offline)' });
    assert.deepEqual(await present('BOTH-1'), { accepted: false, status: 'Blocked', by: 'the local list (offline)' });
    assert.deepEqual(await present('LIST-OK'), { accepted: true, status: 'Accepted', by: 'the local list (offline)' });
    assert.deepEqual(await present('LIST-BLK'), { accepted: false, status: 'Blocked', by: 'the local list (offline)' });
    const unknown = { accepted: false, status: 'Offline', by: 'AllowOfflineTxForUnknownId (offline, unknown idTag)' };
    assert.deepEqual(await present('LIST-DEL'), unknown, 'deleted from the list');
    assert.deepEqual(await present('UNK-1'), unknown);
    await back();
    // the two offline transactions are delivered afterwards
    await until(() => csms.received('StopTransaction', { since: m }).length === 2, { timeoutMs: 20000, what: 'stops delivered' });
    assert.deepEqual(csms.received('StartTransaction', { since: m }).map((x) => x.params.idTag), ['cache-1', 'LIST-OK']);
    assert.equal(csms.received('Authorize', { since: m }).length, 0);
  });

  test('ClearCache empties the cache; the list and the cache survive a restart', async () => {
    assert.equal((await call('ClearCache', {})).status, 'Accepted');
    const m0 = csms.mark();
    assert.deepEqual(await present('CACHE-2'), { accepted: true, status: 'Accepted', by: 'the Central System' });
    await csms.waitFor('StopTransaction', null, 5000, { since: m0, replied: true });
    const m = csms.mark();
    const back = await away(12000);
    d.ctl.close();
    await d.stop();
    d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID }));
    assert.equal((await status()).ocpp, 'offline');
    assert.deepEqual(await present('CACHE-1'), { accepted: false, status: 'Offline', by: 'AllowOfflineTxForUnknownId (offline, unknown idTag)' });
    assert.deepEqual(await present('CACHE-2'), { accepted: true, status: 'Accepted', by: 'the cache (offline)' });
    assert.deepEqual(await present('LIST-OK'), { accepted: true, status: 'Accepted', by: 'the local list (offline)' });
    await back();
    assert.equal(await listVersion(), 4);
    await until(() => csms.received('StopTransaction', { since: m }).length === 2, { timeoutMs: 20000, what: 'stops delivered' });
  });

  test('no answer to Authorize decides as offline; AllowOfflineTxForUnknownId true', async () => {
    await setKey('AllowOfflineTxForUnknownId', 'true');
    csms.handle('Authorize', () => { throw callError('InternalError', 'the test says no'); });
    try {
      assert.deepEqual(await present('UNK-2'), { accepted: true, status: 'Offline', by: 'AllowOfflineTxForUnknownId (offline, unknown idTag)' });
      assert.deepEqual(await present('LIST-BLK'), { accepted: false, status: 'Blocked', by: 'the local list (offline)' });
      assert.deepEqual(await present('CACHE-2'), { accepted: true, status: 'Accepted', by: 'the cache (offline)' });
      // LocalAuthorizeOffline false: local entries do not authorize, known-bad ones still refuse
      await setKey('LocalAuthorizeOffline', 'false');
      assert.deepEqual(await present('LIST-OK'), { accepted: true, status: 'Offline', by: 'AllowOfflineTxForUnknownId (offline, LocalAuthorizeOffline is false)' });
      assert.deepEqual(await present('BOTH-1'), { accepted: false, status: 'Blocked', by: 'the local list (offline)' });
      await setKey('AllowOfflineTxForUnknownId', 'false');
      assert.deepEqual(await present('LIST-OK'), { accepted: false, status: 'Offline', by: 'AllowOfflineTxForUnknownId (offline, LocalAuthorizeOffline is false)' });
      await setKey('LocalAuthorizeOffline', 'true');
      // the cache disabled: not used, and ClearCache is Rejected
      await setKey('AuthorizationCacheEnabled', 'false');
      assert.equal((await call('ClearCache', {})).status, 'Rejected');
      assert.deepEqual(await present('CACHE-2'), { accepted: false, status: 'Offline', by: 'AllowOfflineTxForUnknownId (offline, unknown idTag)' });
      await setKey('AuthorizationCacheEnabled', 'true');
      assert.deepEqual(await present('CACHE-2'), { accepted: true, status: 'Accepted', by: 'the cache (offline)' });
    } finally {
      csms.handle('Authorize', null);
    }
  });

  test('LocalAuthListEnabled false: version -1, NotSupported, the list unused; enabled again it overrides the cache', async () => {
    await setKey('LocalAuthListEnabled', 'false');
    assert.equal(await listVersion(), -1);
    assert.equal(await sendList(9, 'Full', []), 'NotSupported');
    // not in force, the list does not keep LIST-BLK out of the cache
    assert.deepEqual(await present('LIST-BLK'), { accepted: true, status: 'Accepted', by: 'the Central System' });
    csms.handle('Authorize', () => { throw callError('InternalError', 'the test says no'); });
    try {
      assert.deepEqual(await present('LIST-BLK'), { accepted: true, status: 'Accepted', by: 'the cache (offline)' });
      await setKey('LocalAuthListEnabled', 'true');
      // Blocked in the list, Accepted in the cache: refused
      assert.deepEqual(await present('LIST-BLK'), { accepted: false, status: 'Blocked', by: 'the local list (offline)' });
    } finally {
      csms.handle('Authorize', null);
    }
    assert.equal(await listVersion(), 4, 'the list was kept');
    assert.equal(await sendList(9, 'Full', []), 'Accepted');
    assert.equal(await listVersion(), 0, 'an empty list is version 0');
    assert.deepEqual(csms.validationFailures, []);
  });
});
