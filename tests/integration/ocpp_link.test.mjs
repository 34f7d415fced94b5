// ocpp_link.test.mjs: the OCPP-J transport (src/ocpp_link.c), hosted by
// tests/probe-ocpp_link, against the test CSMS (sim/csms, ocpp-rpc in
// strict mode) on loopback: RPC round trips and their failures, invalid
// CALLs from the CSMS, outages and backoff, HTTP refusals, security
// profiles 1-3 with throwaway certificates, and a server that selects no
// subprotocol.  Every process is stopped by its PID.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startCsms, callError, NOREPLY } from '../../sim/csms/csms.mjs';
import { makePki } from './lib/ocpp-certs.mjs';
import { runProbeRefused, startProbe } from './lib/ocpp-probe.mjs';
import { startRawWs } from './lib/ocpp-rawws.mjs';
import { cleanup, stopAll, tempDir } from './lib/proc.mjs';

const FAST = ['--backoff-min', '100', '--backoff-max', '800'];

// The envelope of the k-th consecutive retry delay: [d/2, d], d = min(min*2^k, max).
function retryBounds(k, min = 100, max = 800) {
  const d = Math.min(min * 2 ** k, max);
  return [Math.floor(d / 2), d];
}

async function withCsms(opts, fn) {
  const csms = await startCsms({ port: 0, ...opts });
  try {
    return await fn(csms);
  } finally {
    await csms.stop();
  }
}

async function stopProbe(p) {
  const r = await p.stop();
  assert.equal(r.signal, null, `probe died by ${r.signal}:\n${p.output()}`);
  assert.equal(r.code, 0, `probe exit code ${r.code}:\n${p.output()}`);
}

describe('ocpp_link against the test CSMS', () => {
  after(async () => { await stopAll(); });

  test('boot round trip, strictly validated; identity percent-encoded', async () => {
    await withCsms({}, async (csms) => {
      const identity = 'CP 1+ä%';
      const p = await startProbe(['--url', csms.url, '--identity', identity, ...FAST]);
      const conn = await csms.waitConnected(identity);
      assert.equal(conn.protocol, 'ocpp1.6');
      assert.deepEqual(conn.offeredProtocols, ['ocpp1.6']);
      const boot = await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification');
      assert.equal(boot.status, 'ok');
      assert.equal(boot.decoded.status, 'Accepted');
      assert.equal(boot.decoded.interval, 300);
      const rec = await csms.waitFor('BootNotification', (r) => r.identity === identity);
      assert.equal(rec.params.chargePointVendor, 'wattstream');
      // a few more actions, each validated by ocpp-rpc
      const hb = await p.call('Heartbeat', {});
      assert.equal(hb.status, 'ok');
      const auth = await p.call('Authorize', { idTag: 'T1' });
      assert.equal(auth.decoded.idTagInfo.status, 'Accepted');
      assert.deepEqual(csms.validationFailures, []);
      assert.deepEqual(csms.violations, []);
      await stopProbe(p);
    });
  });

  test('an invalid or CSMS-only CALL is refused locally, never sent', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--no-boot', ...FAST]);
      await p.waitEvent((e) => e.event === 'connected');
      const bad = await p.call('Authorize', { idTag: 'x'.repeat(21) });
      assert.equal(bad.event, 'call_refused');
      assert.match(bad.desc, /idTag/);
      const wrongDir = await p.call('Reset', { type: 'Hard' });
      assert.equal(wrongDir.event, 'call_refused');
      const unknown = await p.call('NoSuchAction', {});
      assert.equal(unknown.event, 'call_refused');
      assert.equal(csms.received().length, 0);
      await stopProbe(p);
    });
  });

  test('CALLs go out one at a time, in order; timeout; CALLERROR', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--timeout', '1', ...FAST]);
      await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification');
      // no answer: TIMEOUT after ~1 s, and the queue moves on
      csms.handle('Heartbeat', () => NOREPLY);
      csms.handle('Authorize', ({ params }) => {
        if (params.idTag === 'ERR') throw callError('SecurityError', 'not today');
        return { idTagInfo: { status: 'Accepted' } };
      });
      const since = p.mark();
      p.send('call Heartbeat {}');
      p.send('call Authorize {"idTag":"A"}');
      p.send('call Authorize {"idTag":"ERR"}');
      p.send('call Authorize {"idTag":"B"}');
      const t0 = Date.now();
      const results = await p.waitEvents((e) => e.event === 'result', 4, { since });
      assert.equal(results[0].action, 'Heartbeat');
      assert.equal(results[0].status, 'timeout');
      assert.ok(Date.now() - t0 >= 900, 'timeout too early');
      assert.equal(results[1].status, 'ok');
      assert.equal(results[2].status, 'callerror');
      assert.equal(results[2].error_code, 'SecurityError');
      assert.equal(results[2].error_desc, 'not today');
      assert.equal(results[3].status, 'ok');
      // the CSMS saw them in order and never two at once
      const seen = csms.received('Authorize').map((r) => r.params.idTag);
      assert.deepEqual(seen, ['A', 'ERR', 'B']);
      assert.deepEqual(csms.violations, []);
      assert.deepEqual(csms.validationFailures, []);
      await stopProbe(p);
    });
  });

  test('answers to unknown ids are ignored; an answer failing the schema is reported', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--timeout', '10', ...FAST]);
      await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification');
      csms.handle('Heartbeat', () => NOREPLY);
      let since = p.mark();
      p.send('call Heartbeat {}');
      let rec = await csms.waitFor('Heartbeat', null, 5000, { onlyNew: true });
      csms.sendRaw('CP-1', '[3,"not-ours-1",{"currentTime":"2024-01-01T00:00:00Z"}]');
      csms.sendRaw('CP-1', '[4,"not-ours-2","GenericError","",{}]');
      await p.waitEvent((e) => e.event === 'notice' && e.kind === 'unknown_answer' && /not-ours-2/.test(e.text), { since });
      assert.ok(p.events().slice(since).some((e) => e.event === 'notice' && /not-ours-1/.test(e.text)));
      assert.ok(!p.events().slice(since).some((e) => e.event === 'result'));
      // the real answer still completes the CALL
      csms.sendRaw('CP-1', JSON.stringify([3, rec.messageId, { currentTime: '2024-01-01T00:00:00Z' }]));
      let res = await p.waitEvent((e) => e.event === 'result', { since });
      assert.equal(res.status, 'ok');
      assert.equal(res.decoded.currentTime, '2024-01-01T00:00:00Z');
      // a CALLRESULT that fails HeartbeatResponse's schema
      since = p.mark();
      p.send('call Heartbeat {}');
      rec = await csms.waitFor('Heartbeat', null, 5000, { onlyNew: true });
      csms.sendRaw('CP-1', JSON.stringify([3, rec.messageId, { currentTime: 'yesterday' }]));
      res = await p.waitEvent((e) => e.event === 'result', { since });
      assert.equal(res.status, 'bad_result');
      assert.equal(res.error_code, 'PropertyConstraintViolation');
      assert.match(res.error_desc, /HeartbeatResponse: currentTime/);
      // missing required field
      since = p.mark();
      p.send('call Heartbeat {}');
      rec = await csms.waitFor('Heartbeat', null, 5000, { onlyNew: true });
      csms.sendRaw('CP-1', JSON.stringify([3, rec.messageId, {}]));
      res = await p.waitEvent((e) => e.event === 'result', { since });
      assert.equal(res.status, 'bad_result');
      assert.equal(res.error_code, 'OccurenceConstraintViolation');
      // a malformed answer to our id fails the CALL at once
      since = p.mark();
      p.send('call Heartbeat {}');
      rec = await csms.waitFor('Heartbeat', null, 5000, { onlyNew: true });
      csms.sendRaw('CP-1', `[3,"${rec.messageId}"]`);
      res = await p.waitEvent((e) => e.event === 'result', { since });
      assert.equal(res.status, 'bad_result');
      assert.equal(res.error_code, 'FormationViolation');
      assert.ok(csms.isConnected('CP-1'));
      await stopProbe(p);
    });
  });

  test('malformed and invalid CALLs from the CSMS get the right CALLERROR; the link keeps running', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--no-boot',
        '--reply', 'Reset={"status":"Accepted"}', '--reply', 'ClearCache={"status":"Bogus"}', ...FAST]);
      await csms.waitConnected('CP-1');
      await p.waitEvent((e) => e.event === 'connected');
      const cases = [
        ['[2,"m1","Reset",{}]', 'OccurenceConstraintViolation', /type/],
        ['[2,"m2","Reset",{"type":"Sideways"}]', 'PropertyConstraintViolation', /type/],
        ['[2,"m3","Reset",{"type":1}]', 'TypeConstraintViolation', /type/],
        ['[2,"m4","Reset",{"type":"Hard","extra":1}]', 'FormationViolation', /extra/],
        ['[2,"m5","Reset",[]]', 'FormationViolation', /object/],
        ['[2,"m6","NoSuchAction",{}]', 'NotImplemented', /./],
        ['[2,"m7","BootNotification",{"chargePointVendor":"v","chargePointModel":"m"}]', 'NotSupported', /charge point/],
        ['[2,"m8","Reset"]', 'ProtocolError', /./],
        ['[2,"m9","Reset",{"type":"Hard"', 'FormationViolation', /./],
        ['[2,"m10","ChangeConfiguration",{"key":"k","value":"' + 'v'.repeat(501) + '"}]', 'PropertyConstraintViolation', /value/],
        ['[2,"m11","DataTransfer",{"vendorId":"x","data":"' + 'A'.repeat(300 * 1024) + '"}]', 'FormationViolation', /./],
        ['[2,"' + 'i'.repeat(40) + '","Reset",{"type":"Hard"}]', 'FormationViolation', /./],
      ];
      for (const [raw, code, descRe] of cases) {
        csms.sendRaw('CP-1', raw);
        const ans = JSON.parse(await csms.waitRaw('CP-1', null, 5000));
        assert.equal(ans[0], 4, `answer to ${raw.slice(0, 60)}: ${JSON.stringify(ans)}`);
        assert.equal(ans[2], code, `code for ${raw.slice(0, 60)}: ${ans[3]}`);
        assert.match(ans[3], descRe);
        assert.deepEqual(ans[4], {});
      }
      // frames nothing may be answered to: ignored, link stays up
      const since = p.mark();
      for (const raw of ['not json', '{"a":1}', '[]', '[5,"x",{}]', '[2,"","Reset",{"type":"Hard"}]'])
        csms.sendRaw('CP-1', raw);
      await p.waitEvents((e) => e.event === 'notice' && e.kind === 'bad_frame', 5, { since });
      // a valid CALL after all that: handed to the owner, answered
      csms.handle('Reset', null);
      const r = await csms.call('CP-1', 'Reset', { type: 'Soft' });
      assert.deepEqual(r, { status: 'Accepted' });
      const ev = await p.waitEvent((e) => e.event === 'call' && e.action === 'Reset');
      assert.deepEqual(ev.payload, { type: 'Soft' });
      // an owner reply that fails the response schema becomes InternalError
      const cc = await csms.call('CP-1', 'ClearCache', {});
      assert.equal(cc.errorCode, 'InternalError');
      const rep = await p.waitEvent((e) => e.event === 'replied' && e.rc !== 0);
      assert.match(rep.desc, /status/);
      assert.ok(csms.isConnected('CP-1'));
      assert.equal(p.child.exitCode, null);
      assert.deepEqual(csms.validationFailures, []);
      await stopProbe(p);
    });
  });

  test('a second CALL while one is unanswered is refused with GenericError', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--no-boot', '--manual', ...FAST]);
      await p.waitEvent((e) => e.event === 'connected');
      await csms.waitConnected('CP-1');
      csms.sendRaw('CP-1', '[2,"first","Reset",{"type":"Hard"}]');
      await p.waitEvent((e) => e.event === 'call' && e.id === 'first');
      csms.sendRaw('CP-1', '[2,"second","Reset",{"type":"Soft"}]');
      const ans = JSON.parse(await csms.waitRaw('CP-1', null, 5000));
      assert.deepEqual(ans.slice(0, 3), [4, 'second', 'GenericError']);
      assert.match(ans[3], /first/);
      // replying to an unknown id is refused; to the held one works
      p.send('reply nope {"status":"Accepted"}');
      const bad = await p.waitEvent((e) => e.event === 'replied' && e.id === 'nope');
      assert.notEqual(bad.rc, 0);
      const mark = csms.mark();
      p.send('reply first {"status":"Accepted"}');
      const raw = await csms.waitRaw('CP-1', (t, a) => a && a[1] === 'first', 5000, { since: mark });
      assert.deepEqual(JSON.parse(raw), [3, 'first', { status: 'Accepted' }]);
      // and then a new CALL is taken again
      csms.sendRaw('CP-1', '[2,"third","Reset",{"type":"Soft"}]');
      await p.waitEvent((e) => e.event === 'call' && e.id === 'third');
      p.send('reply-error third NotSupported no resets today');
      const err = JSON.parse(await csms.waitRaw('CP-1', null, 5000));
      assert.deepEqual(err, [4, 'third', 'NotSupported', 'no resets today', {}]);
      await stopProbe(p);
    });
  });

  test('outage: goAway -> reconnect with exponential backoff and jitter, boot again', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', ...FAST]);
      await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification');
      const since = p.mark();
      const { reopened } = await csms.goAway(2500);
      const down = await p.waitEvent((e) => e.event === 'disconnected', { since });
      assert.equal(down.reason, 'closed');
      assert.equal(down.close_code, 1001);
      await reopened;
      const up = await p.waitEvent((e) => e.event === 'connected', { since, timeoutMs: 5000 });
      assert.ok(up);
      await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification', { since });
      const ds = p.events().slice(since).filter((e) => e.event === 'disconnected');
      assert.ok(ds.length >= 4, `only ${ds.length} attempts: ${JSON.stringify(ds)}`);
      ds.forEach((d, k) => {
        const [lo, hi] = retryBounds(k);
        assert.ok(d.retry_ms >= lo && d.retry_ms <= hi, `attempt ${k}: ${d.retry_ms} not in [${lo}, ${hi}]`);
        if (k > 0) {
          assert.equal(d.reason, 'http');
          assert.equal(d.http_status, 503);
        }
      });
      // jitter: the capped delays are not all the same value
      const capped = ds.slice(3).map((d) => d.retry_ms);
      if (capped.length >= 3)
        assert.ok(new Set(capped).size > 1, `no jitter: ${capped}`);
      assert.deepEqual(csms.validationFailures, []);
      await stopProbe(p);
    });
  });

  test('lost connection (no close frame) and ocpp_link_stop()', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--backoff-min', '50', '--backoff-max', '200']);
      await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification');
      let since = p.mark();
      const m = csms.mark();
      await csms.dropConnection('CP-1');
      const d = await p.waitEvent((e) => e.event === 'disconnected', { since });
      assert.equal(d.reason, 'closed');
      assert.equal(d.close_code, 1006);
      await csms.waitConnected('CP-1', { since: m });
      await p.waitEvent((e) => e.event === 'connected', { since });
      since = p.mark();
      const m2 = csms.mark();
      p.send('stop');
      const s = await p.waitEvent((e) => e.event === 'disconnected', { since });
      assert.equal(s.reason, 'local');
      assert.equal(s.will_retry, false);
      const dis = await csms.waitDisconnected('CP-1', { since: m2 });
      assert.equal(dis.code, 1000);
      // ten times the backoff cap: still no new connection
      await new Promise((r) => setTimeout(r, 2000));
      assert.ok(!csms.isConnected('CP-1'));
      assert.ok(!p.events().slice(since).some((e) => e.event === 'connected'));
      await stopProbe(p);
    });
  });

  test('unknown identity: HTTP 404, retried with backoff', async () => {
    await withCsms({ identities: ['CP-1'] }, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-X', ...FAST]);
      const ds = await p.waitEvents((e) => e.event === 'disconnected', 3);
      ds.forEach((d, k) => {
        assert.equal(d.reason, 'http');
        assert.equal(d.http_status, 404);
        const [lo, hi] = retryBounds(k);
        assert.ok(d.retry_ms >= lo && d.retry_ms <= hi, `attempt ${k}: ${d.retry_ms}`);
      });
      assert.match(ds[0].text, /^refused with HTTP 404 \(identity unknown to the CSMS\), retry in \d+ ms$/);
      const ref = await csms.waitRefused('CP-X');
      assert.equal(ref.status, 404);
      assert.ok(!p.events().some((e) => e.event === 'connected'));
      await stopProbe(p);
    });
  });

  test('security profile 1: Basic auth good, bad, and a new AuthorizationKey', async () => {
    const key = '0123456789abcdef0123456789abcdef01234567';
    await withCsms({ basicAuth: { 'CP-1': key } }, async (csms) => {
      const good = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--profile', '1',
        '--auth-key', key, ...FAST]);
      const conn = await csms.waitConnected('CP-1');
      assert.equal(conn.auth, 'basic');
      await good.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification' && e.status === 'ok');
      await stopProbe(good);
      // the key never shows up in the probe's output (library logs at debug)
      assert.ok(!good.output().includes(key));

      const bad = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--profile', '1',
        '--auth-key', 'ffffffffffffffffffffffffffffffff', '--debug', ...FAST]);
      const d = await bad.waitEvent((e) => e.event === 'disconnected');
      assert.equal(d.reason, 'http');
      assert.equal(d.http_status, 401);
      assert.ok(!bad.events().some((e) => e.event === 'connected'));
      assert.ok(!bad.output().includes('ffffffffffffffffffffffffffffffff'));
      // the CSMS hands out a new key: reconfigure, connect at once
      const since = bad.mark();
      bad.send(`authkey ${key}`);
      const rc = await bad.waitEvent((e) => e.event === 'reconfigured', { since });
      assert.equal(rc.rc, 0);
      await bad.waitEvent((e) => e.event === 'connected', { since });
      // and a key change while connected: closed by us, reconnects with it
      const since2 = bad.mark();
      bad.send('authkey 00000000000000000000000000000000');
      const local = await bad.waitEvent((e) => e.event === 'disconnected', { since: since2 });
      assert.equal(local.reason, 'local');
      assert.equal(local.will_retry, true);
      assert.equal(local.retry_ms, 0);
      const refused = await bad.waitEvent((e) => e.event === 'disconnected' && e.reason === 'http', { since: since2 });
      assert.equal(refused.http_status, 401);
      assert.ok(!bad.output().includes(key));
      assert.ok(!bad.output().includes('00000000000000000000000000000000'));
      await stopProbe(bad);

      // profile 1 without a key is a configuration error
      const none = runProbeRefused(['--url', csms.url, '--identity', 'CP-1', '--profile', '1']);
      assert.equal(none.status, 3);
      assert.equal(none.events[0].event, 'config_error');
      assert.match(none.events[0].why, /AuthorizationKey/);
    });
  });

  describe('TLS (profiles 2 and 3)', () => {
    let dir, pki;
    const key = 'aabbccddeeff00112233445566778899';
    before(() => { dir = tempDir('ws-ocpp-tls-'); pki = makePki(dir); });
    after(() => cleanup(dir));

    const tlsCsms = (server, extra = {}) => ({
      basicAuth: { 'CP-1': key },
      tls: { key: pki.read(`${server}.key`), cert: pki.read(`${server}.pem`), ...extra },
    });
    const wss = (csms) => csms.url.replace('//127.0.0.1', '//localhost');

    test('profile 2 with a trusted CA connects; Basic auth over TLS', async () => {
      await withCsms(tlsCsms('server'), async (csms) => {
        assert.match(csms.url, /^wss:/);
        const p = await startProbe(['--url', wss(csms), '--identity', 'CP-1', '--profile', '2',
          '--auth-key', key, '--ca', pki.file('ca.pem'), ...FAST]);
        const conn = await csms.waitConnected('CP-1');
        assert.equal(conn.auth, 'tls+basic');
        const boot = await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification');
        assert.equal(boot.status, 'ok');
        assert.deepEqual(csms.validationFailures, []);
        await stopProbe(p);
      });
    });

    test('profile 2: a server certificate from another CA never connects', async () => {
      await withCsms(tlsCsms('server-rogue'), async (csms) => {
        const p = await startProbe(['--url', wss(csms), '--identity', 'CP-1', '--profile', '2',
          '--auth-key', key, '--ca', pki.file('ca.pem'), ...FAST]);
        const ds = await p.waitEvents((e) => e.event === 'disconnected', 2);
        for (const d of ds) assert.equal(d.reason, 'tls', JSON.stringify(d));
        assert.ok(!p.events().some((e) => e.event === 'connected'));
        assert.equal(csms.connections.filter((c) => c.kind === 'connect').length, 0);
        await stopProbe(p);
      });
    });

    test('profile 2: a trusted certificate for another host name never connects', async () => {
      await withCsms(tlsCsms('server-other'), async (csms) => {
        const p = await startProbe(['--url', wss(csms), '--identity', 'CP-1', '--profile', '2',
          '--auth-key', key, '--ca', pki.file('ca.pem'), ...FAST]);
        const d = await p.waitEvent((e) => e.event === 'disconnected');
        assert.equal(d.reason, 'tls', JSON.stringify(d));
        await p.waitEvents((e) => e.event === 'disconnected', 2);
        assert.ok(!p.events().some((e) => e.event === 'connected'));
        assert.equal(csms.connections.filter((c) => c.kind === 'connect').length, 0);
        await stopProbe(p);
      });
    });

    test('unusable settings are configuration errors (scheme, CA, files, port, identity)', async () => {
      const cases = [
        [['--url', 'ws://localhost:1/ocpp', '--profile', '2', '--auth-key', key, '--ca', pki.file('ca.pem')], /wss/],
        [['--url', 'wss://localhost:1/ocpp', '--profile', '2', '--auth-key', key, '--ca', pki.file('missing.pem')], /CA/],
        [['--url', 'wss://localhost:1/ocpp', '--profile', '0'], /wss/],
        [['--url', 'wss://localhost:1/ocpp', '--profile', '3', '--ca', pki.file('ca.pem')], /client certificate/],
        [['--url', 'http://localhost:1/ocpp', '--profile', '0'], /ws:\/\//],
        [['--url', 'ws://localhost:99999/ocpp', '--profile', '0'], /port/],
        [['--url', 'ws://localhost:1/ocpp?x=1', '--profile', '0'], /query/],
        [['--url', 'ws://localhost:1/oc pp', '--profile', '0'], /space/],
        [['--url', 'ws://localhost:1/ocpp', '--profile', '1', '--auth-key', key, '--identity', 'CP:1'], /':'/],
        [['--url', 'ws://localhost:1/ocpp', '--profile', '0', '--identity', 'x'.repeat(49)], /identity/],
        [['--url', 'ws://localhost:1/ocpp', '--profile', '4'], /profile/],
      ];
      for (const [args, re] of cases) {
        const withId = args.includes('--identity') ? args : [...args, '--identity', 'CP-1'];
        const r = runProbeRefused(withId);
        assert.equal(r.status, 3, `${args.join(' ')}: ${JSON.stringify(r.events)} ${r.stderr}`);
        assert.equal(r.events[0].event, 'config_error');
        assert.match(r.events[0].why, re, args.join(' '));
      }
    });

    test('profile 3: client certificate accepted; none or a rogue one refused', async () => {
      const opts = { tls: { key: pki.read('server.key'), cert: pki.read('server.pem'),
        ca: pki.read('ca.pem'), requestCert: true } };
      await withCsms(opts, async (csms) => {
        const p = await startProbe(['--url', wss(csms), '--identity', 'CP-1', '--profile', '3',
          '--ca', pki.file('ca.pem'), '--cert', pki.file('client.pem'), '--key', pki.file('client.key'), ...FAST]);
        const conn = await csms.waitConnected('CP-1');
        assert.equal(conn.auth, 'tls+client-cert');
        await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification' && e.status === 'ok');
        await stopProbe(p);

        // without a client certificate (profile 2 settings): refused in TLS
        const m = csms.mark();
        const n = await startProbe(['--url', wss(csms), '--identity', 'CP-2', '--profile', '2',
          '--auth-key', key, '--ca', pki.file('ca.pem'), ...FAST]);
        const d = await n.waitEvent((e) => e.event === 'disconnected');
        // TLS 1.3: the server's refusal of the handshake arrives after the
        // client finished its side, so lws reports a failed read
        assert.ok(['tls', 'connect'].includes(d.reason), JSON.stringify(d));
        await n.waitEvents((e) => e.event === 'disconnected', 2);
        assert.ok(!n.events().some((e) => e.event === 'connected'));
        await csms.waitRefused(null, { since: m });
        await stopProbe(n);

        // a client certificate from another CA
        const r = await startProbe(['--url', wss(csms), '--identity', 'CP-3', '--profile', '3',
          '--ca', pki.file('ca.pem'), '--cert', pki.file('client-rogue.pem'),
          '--key', pki.file('client-rogue.key'), ...FAST]);
        await r.waitEvent((e) => e.event === 'disconnected');
        assert.ok(!r.events().some((e) => e.event === 'connected'));
        assert.ok(!csms.connections.some((c) => c.kind === 'connect' && c.identity !== 'CP-1'));
        await stopProbe(r);
      });
    });
  });

  test('a server that selects no subprotocol is refused', async () => {
    const srv = await startRawWs();
    try {
      const p = await startProbe(['--url', `ws://127.0.0.1:${srv.port}/ocpp`, '--identity', 'CP-1', ...FAST]);
      const ds = await p.waitEvents((e) => e.event === 'disconnected', 2);
      for (const d of ds) assert.equal(d.reason, 'subprotocol', JSON.stringify(d));
      assert.ok(!p.events().some((e) => e.event === 'connected'));
      assert.ok(srv.upgrades.length >= 2);
      assert.equal(srv.upgrades[0].offered, 'ocpp1.6');
      assert.equal(srv.upgrades[0].url, '/ocpp/CP-1');
      // not one WebSocket data frame was sent to it (a close frame at most: <= 8 bytes)
      for (const u of srv.upgrades) assert.ok(u.bytesAfter <= 8, `sent ${u.bytesAfter} bytes`);
      await stopProbe(p);
    } finally {
      await srv.stop();
    }
    // and one that selects another protocol
    const other = await startRawWs({ protocol: 'ocpp2.0.1' });
    try {
      const p = await startProbe(['--url', `ws://127.0.0.1:${other.port}/ocpp`, '--identity', 'CP-1', ...FAST]);
      const d = await p.waitEvent((e) => e.event === 'disconnected');
      assert.equal(d.reason, 'subprotocol', JSON.stringify(d));
      assert.ok(!p.events().some((e) => e.event === 'connected'));
      await stopProbe(p);
    } finally {
      await other.stop();
    }
  });

  test('no pong within the ping interval drops the connection, then it reconnects', async () => {
    // a server that accepts ocpp1.6 but never answers anything, pings included
    const srv = await startRawWs({ protocol: 'ocpp1.6' });
    try {
      const p = await startProbe(['--url', `ws://127.0.0.1:${srv.port}/ocpp`, '--identity', 'CP-1',
        '--ping', '1', '--timeout', '30', ...FAST]);
      await p.waitEvent((e) => e.event === 'connected');
      const d = await p.waitEvent((e) => e.event === 'disconnected', { timeoutMs: 5000 });
      assert.equal(d.reason, 'ping', JSON.stringify(d));
      // the BootNotification in flight was failed, not left hanging
      const boot = await p.waitEvent((e) => e.event === 'result' && e.action === 'BootNotification');
      assert.equal(boot.status, 'disconnected');
      await p.waitEvents((e) => e.event === 'connected', 2);
      await stopProbe(p);
    } finally {
      await srv.stop();
    }
  });

  test('WebSocket ping every interval, answered by pongs', async () => {
    await withCsms({}, async (csms) => {
      const p = await startProbe(['--url', csms.url, '--identity', 'CP-1', '--ping', '1', ...FAST]);
      await p.waitEvent((e) => e.event === 'connected');
      const since = p.mark();
      await p.waitEvent((e) => e.event === 'notice' && e.kind === 'pong', { since, timeoutMs: 3000 });
      await p.waitEvent((e) => e.event === 'notice' && e.kind === 'pong' &&
        p.events().slice(since).filter((x) => x.kind === 'pong').length >= 2, { since, timeoutMs: 3000 });
      assert.ok(!p.events().some((e) => e.event === 'disconnected'));
      await stopProbe(p);
    });
  });
});
