// wallet_server.test.mjs: the wallet endpoint's transport (src/wallet_server.c,
// hosted by tests/probe-wallet_server with a trivial echo-like owner) driven
// by the `ws` client from sim/node_modules: subprotocol refusal, plain HTTP,
// frame too big (also split in fragments), binary frame, bad JSON and bad
// UTF-8, malformed messages answered with bad_request (closed after 5), rate
// limit, connections per address, idle timeout with and without a session,
// TLS, and one valid start/voucher/stop flow.  Every probe started here is
// stopped by its PID.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { after, describe, test } from 'node:test';

const SOURCE_ROOT = process.env.WS_SOURCE_ROOT ??
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const BUILD_ROOT = process.env.WS_BUILD_ROOT ?? path.join(SOURCE_ROOT, 'build');
const PROBE = path.join(BUILD_ROOT, 'tests', 'probe-wallet_server');
const require = createRequire(path.join(SOURCE_ROOT, 'sim', 'package.json'));
const WebSocket = require('ws');

const PROTO = 'wattstream.wallet.1';
const CH = '0x' + '11'.repeat(32);
const CH2 = '0x' + '33'.repeat(32);
// shape-valid signature: r, s small and nonzero (s <= n/2), v = 27
const SIG = '0x' + '01'.repeat(32) + '02'.repeat(32) + '1b';
// s = n/2 + 1: the smallest high S
const HIGH_S_SIG = '0x' + '01'.repeat(32) +
  '7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1' + '1b';
const WAIT_MS = 5000;

const probes = new Set();
after(() => { for (const p of probes) p.kill(); });

async function startProbe(args = []) {
  const child = spawn(PROBE, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  probes.add(child);
  const events = [];
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const ev = JSON.parse(line);
    events.push(ev);
    for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
  });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  const waitEvent = (pred, what = 'probe event') => {
    const seen = events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), WAIT_MS).unref();
    });
  };
  const ready = await Promise.race([
    waitEvent((e) => e.event === 'listening', 'listening'),
    exited.then((x) => { throw new Error(`probe exited early: ${JSON.stringify(x)}`); }),
  ]);
  return {
    port: ready.port,
    events,
    waitEvent,
    async stop() {
      child.kill('SIGTERM');
      const x = await exited;
      probes.delete(child);
      assert.equal(x.code, 0, 'probe exits cleanly');
      assert.ok(events.some((e) => e.event === 'stopped'));
    },
  };
}

// Opens a client; resolves with { ws, msgs, closed } on open, or
// { refused: reason } if the handshake fails.
function connect(url, protocols = [PROTO], opts = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, opts);
    const msgs = [];
    const waiters = [];
    let closeInfo = null;
    const closed = new Promise((r) => ws.on('close', (code, reason) => {
      closeInfo = { code, reason: String(reason), at: Date.now() };
      r(closeInfo);
    }));
    ws.on('message', (data, isBinary) => {
      const m = { binary: isBinary, ...JSON.parse(String(data)) };
      msgs.push(m);
      for (const w of [...waiters]) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
    });
    const next = (pred, what = 'message') => {
      const seen = msgs.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        waiters.push({ pred, resolve: res });
        setTimeout(() => rej(new Error(`timeout waiting for ${what}; got ${JSON.stringify(msgs)}`)), WAIT_MS).unref();
      });
    };
    ws.on('open', () => resolve({ ws, msgs, closed, next, closeInfo: () => closeInfo }));
    ws.on('unexpected-response', (req, res) => resolve({ refused: `http ${res.statusCode}` }));
    ws.on('error', (e) => resolve({ refused: e.message }));
  });
}

function withTimeout(p, what) {
  return Promise.race([p, new Promise((_, rej) =>
    setTimeout(() => rej(new Error(`timeout: ${what}`)), WAIT_MS).unref())]);
}

const start = (id, connector = 1, channelId = CH) =>
  JSON.stringify({ type: 'start', id, connector, channelId });

describe('wallet_server', () => {
  test('a client that does not offer wattstream.wallet.1 is refused', async () => {
    const p = await startProbe();
    const url = `ws://127.0.0.1:${p.port}/wallet`;
    // no subprotocol offered: the server refuses with 403
    const none = await connect(url, []);
    assert.equal(none.refused, 'http 403');
    // only others offered: lws drops the handshake before the server sees it
    for (const protos of [['ocpp1.6'], ['wattstream.wallet.2', 'wattstream.wallet']]) {
      const c = await connect(url, protos);
      assert.ok(c.refused, `refused for ${JSON.stringify(protos)}`);
    }
    // offered among others: selected
    const ok = await connect(url, ['foo', PROTO]);
    assert.ok(ok.ws, ok.refused);
    assert.equal(ok.ws.protocol, PROTO);
    const hello = await ok.next((m) => m.type === 'hello', 'hello');
    assert.equal(hello.protocol, 1);
    assert.equal(ok.msgs[0].type, 'hello', 'hello is the first frame');
    assert.equal(hello.binary, false);
    ok.ws.close();
    await ok.closed;
    await p.waitEvent((e) => e.event === 'closed', 'closed');
    // only the accepted client reached the owner
    assert.equal(p.events.filter((e) => e.event === 'connected').length, 1);
    // plain HTTP is not served
    const status = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: p.port, path: '/wallet' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    assert.equal(status, 403);
    await p.stop();
  });

  test('valid flow: hello, start, session, invoice, vouchers, stop, ended', async () => {
    const p = await startProbe();
    const c = await connect(`ws://127.0.0.1:${p.port}/wallet`);
    assert.ok(c.ws, c.refused);
    await c.next((m) => m.type === 'hello');
    c.ws.send(start('s1'));
    const session = await c.next((m) => m.type === 'session');
    assert.equal(session.id, 's1');
    assert.equal(session.channelId, CH);
    assert.equal(session.connector, 1);
    const invoice = await c.next((m) => m.type === 'invoice');
    assert.equal(invoice.session, session.session);
    assert.equal(invoice.amount, '30000');
    const ev = await p.waitEvent((e) => e.event === 'message' && e.type === 'start');
    assert.equal(ev.channelId, CH);
    assert.equal(ev.id, 's1');

    c.ws.send(JSON.stringify({ type: 'voucher', id: 'v1', session: session.session, channelId: CH,
      amount: '30000', signature: SIG }));
    const acc = await c.next((m) => m.type === 'accepted');
    assert.equal(acc.id, 'v1');
    assert.equal(acc.amount, '30000');
    const vev = await p.waitEvent((e) => e.event === 'message' && e.type === 'voucher');
    assert.equal(vev.amount, '30000');
    assert.equal(vev.signature, SIG);

    // owner-level refusals keep the connection
    c.ws.send(JSON.stringify({ type: 'voucher', id: 'v2', session: session.session, channelId: CH,
      amount: '20000', signature: SIG }));
    assert.equal((await c.next((m) => m.id === 'v2')).code, 'voucher_not_higher');
    c.ws.send(JSON.stringify({ type: 'voucher', id: 'v3', session: session.session, channelId: CH2,
      amount: '40000', signature: SIG }));
    assert.equal((await c.next((m) => m.id === 'v3')).code, 'voucher_wrong_channel');
    c.ws.send(start('s2', 7));
    assert.equal((await c.next((m) => m.id === 's2')).code, 'unknown_connector');
    // shape errors of the signature are the server's, with their own codes
    c.ws.send(JSON.stringify({ type: 'voucher', id: 'v4', session: session.session, channelId: CH,
      amount: '40000', signature: HIGH_S_SIG }));
    assert.equal((await c.next((m) => m.id === 'v4')).code, 'voucher_high_s');
    c.ws.send(JSON.stringify({ type: 'voucher', id: 'v5', session: session.session, channelId: CH,
      amount: '40000', signature: SIG.slice(0, -2) + '1d' }));
    assert.equal((await c.next((m) => m.id === 'v5')).code, 'voucher_bad_v');
    assert.equal(p.events.filter((e) => e.event === 'message' && e.type === 'voucher').length, 3,
      'shape-invalid vouchers never reach the owner');

    // pings are answered, and do not count as messages
    const pong = new Promise((r) => c.ws.once('pong', (data) => r(String(data))));
    c.ws.ping('are-you-there');
    assert.equal(await withTimeout(pong, 'pong'), 'are-you-there');

    c.ws.send(JSON.stringify({ type: 'stop', id: 'x', session: session.session }));
    const ended = await c.next((m) => m.type === 'ended');
    assert.equal(ended.id, 'x');
    assert.equal(ended.reason, 'stopped');
    assert.equal(ended.receipt.final, true);
    assert.equal(ended.receipt.paid, '30000');
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    c.ws.close(1000);
    assert.equal((await c.closed).code, 1000);
    await p.waitEvent((e) => e.event === 'closed');
    await p.stop();
  });

  test('framing: size limit, fragments, binary, bad JSON, bad UTF-8', async () => {
    const p = await startProbe();
    const url = `ws://127.0.0.1:${p.port}/wallet`;

    // exactly 4096 bytes is fine, also when split into fragments
    let c = await connect(url);
    await c.next((m) => m.type === 'hello');
    const msg = start('big');
    const exact = msg + ' '.repeat(4096 - msg.length);
    assert.equal(Buffer.byteLength(exact), 4096);
    c.ws.send(exact);
    assert.equal((await c.next((m) => m.type === 'session')).id, 'big');
    const stopMsg = JSON.stringify({ type: 'stop', id: 'frag', session: '0x' + '00'.repeat(32) });
    c.ws.send(stopMsg.slice(0, 10), { fin: false });
    c.ws.send(stopMsg.slice(10, 40), { fin: false });
    c.ws.send(stopMsg.slice(40), { fin: true });
    assert.equal((await c.next((m) => m.id === 'frag')).code, 'unknown_session');
    // 4097 bytes: 1009
    c.ws.send(exact + ' ');
    let info = await withTimeout(c.closed, 'close after 4097 bytes');
    assert.equal(info.code, 1009);

    // too big only once the fragments add up
    c = await connect(url);
    await c.next((m) => m.type === 'hello');
    c.ws.send('{"type":"stop",' + ' '.repeat(3000), { fin: false });
    c.ws.send(' '.repeat(1200), { fin: true });
    assert.equal((await withTimeout(c.closed, 'close after fragments')).code, 1009);

    // a large single frame far above the limit
    c = await connect(url);
    await c.next((m) => m.type === 'hello');
    c.ws.send('x'.repeat(100000));
    assert.equal((await withTimeout(c.closed, 'close after 100 kB')).code, 1009);

    // binary: 1003, even if it holds a valid message
    c = await connect(url);
    await c.next((m) => m.type === 'hello');
    c.ws.send(Buffer.from(start('bin')), { binary: true });
    assert.equal((await withTimeout(c.closed, 'close after binary')).code, 1003);

    // not JSON: 1007
    for (const bad of ['{"type":"start",', 'hello', '{"a":1} trailing', "{'type':'stop'}"]) {
      c = await connect(url);
      await c.next((m) => m.type === 'hello');
      c.ws.send(bad);
      assert.equal((await withTimeout(c.closed, `close after ${bad}`)).code, 1007, bad);
    }
    // invalid UTF-8 in a text frame: 1007 (from the server or from ws' own check)
    c = await connect(url);
    await c.next((m) => m.type === 'hello');
    c.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), { binary: false });
    assert.equal((await withTimeout(c.closed, 'close after bad utf-8')).code, 1007);

    // none of these reached the owner, except the valid start
    const msgs = p.events.filter((e) => e.event === 'message');
    assert.deepEqual(msgs.map((e) => e.id), ['big', 'frag']);
    await p.stop();
  });

  test('malformed messages: bad_request with the id, closed after 5', async () => {
    const p = await startProbe();
    const c = await connect(`ws://127.0.0.1:${p.port}/wallet`);
    await c.next((m) => m.type === 'hello');
    const bad = [
      JSON.stringify({ type: 'start', id: 'b1', connector: 1, channelId: CH, extra: 1 }),
      JSON.stringify({ type: 'voucher', id: 'b2', session: CH, channelId: CH, amount: '0100', signature: SIG }),
      JSON.stringify({ type: 'hello', id: 'b3' }),
      '[1,2,3]',
      JSON.stringify({ type: 'stop', id: 'b5', session: '0x1234' }),
    ];
    for (let i = 0; i < 4; i++) {
      c.ws.send(bad[i]);
      const e = await c.next((m) => m.type === 'error' && c.msgs.filter((x) => x.type === 'error').length === i + 1);
      assert.equal(e.code, 'bad_request');
      if (i < 3) assert.equal(e.id, `b${i + 1}`);
      else assert.equal(e.id, undefined);
      assert.ok(e.message.length > 0);
      assert.equal(c.ws.readyState, WebSocket.OPEN, 'stays open before the 5th');
    }
    // a valid message in between is still served
    c.ws.send(start('ok'));
    await c.next((m) => m.type === 'session' && m.id === 'ok');
    c.ws.send(bad[4]);
    const last = await c.next((m) => m.id === 'b5');
    assert.equal(last.code, 'bad_request');
    const info = await withTimeout(c.closed, 'close after 5 bad requests');
    assert.equal(info.code, 1008);
    assert.deepEqual(p.events.filter((e) => e.event === 'message').map((e) => e.id), ['ok']);
    await p.stop();
  });

  test('rate limit: the 21st message within a second is refused and closes', async () => {
    const p = await startProbe();
    const c = await connect(`ws://127.0.0.1:${p.port}/wallet`);
    await c.next((m) => m.type === 'hello');
    for (let i = 0; i < 30; i++)
      c.ws.send(JSON.stringify({ type: 'stop', id: `r${i}`, session: '0x' + '00'.repeat(32) }));
    const info = await withTimeout(c.closed, 'close after flood');
    assert.equal(info.code, 1008);
    const errors = c.msgs.filter((m) => m.type === 'error');
    assert.equal(errors.filter((m) => m.code === 'unknown_session').length, 20);
    assert.equal(errors.filter((m) => m.code === 'rate_limited').length, 1);
    assert.equal(errors.at(-1).code, 'rate_limited');
    assert.equal(p.events.filter((e) => e.event === 'message').length, 20);

    // 20 per second sustained is allowed: 3 bursts of 20 spaced over 1 s
    const d = await connect(`ws://127.0.0.1:${p.port}/wallet`);
    await d.next((m) => m.type === 'hello');
    for (let burst = 0; burst < 3; burst++) {
      for (let i = 0; i < 20; i++)
        d.ws.send(JSON.stringify({ type: 'stop', id: `s${burst}-${i}`, session: '0x' + '00'.repeat(32) }));
      await d.next((m) => m.id === `s${burst}-19`);
      await new Promise((r) => setTimeout(r, 1050));
    }
    assert.equal(d.ws.readyState, WebSocket.OPEN);
    assert.equal(d.msgs.filter((m) => m.code === 'rate_limited').length, 0);
    d.ws.close();
    await d.closed;
    await p.stop();
  });

  test('at most 8 connections per remote address', async () => {
    const p = await startProbe();
    const url = `ws://127.0.0.1:${p.port}/wallet`;
    const open = [];
    for (let i = 0; i < 8; i++) {
      const c = await connect(url);
      assert.ok(c.ws, `connection ${i + 1}: ${c.refused}`);
      await c.next((m) => m.type === 'hello');
      open.push(c);
    }
    const ninth = await connect(url);
    assert.equal(ninth.refused, 'http 429', 'the 9th is refused');
    // another address is counted apart
    const other = await connect(url, [PROTO], { localAddress: '127.0.0.2' });
    assert.ok(other.ws, `from 127.0.0.2: ${other.refused}`);
    const ev = await p.waitEvent((e) => e.event === 'connected' && e.remote === '127.0.0.2');
    assert.ok(ev);
    // one closes: room for one more
    open[0].ws.close();
    await open[0].closed;
    await p.waitEvent((e) => e.event === 'closed' && e.conn === 1);
    const again = await connect(url);
    assert.ok(again.ws, again.refused);
    await again.next((m) => m.type === 'hello');
    await p.waitEvent((e) => e.event === 'connected' && e.conn === 10, 'the 10th connected');
    assert.equal(p.events.filter((e) => e.event === 'connected').length, 10);
    for (const c of [...open.slice(1), other, again]) c.ws.close();
    await p.stop();
  });

  test('idle timeout only without a session', async () => {
    const p = await startProbe(['--idle-ms', '800']);
    const url = `ws://127.0.0.1:${p.port}/wallet`;
    const idle = await connect(url);
    const busy = await connect(url);
    const t0 = Date.now();
    await busy.next((m) => m.type === 'hello');
    busy.ws.send(start('s1'));
    const session = await busy.next((m) => m.type === 'session');
    const info = await withTimeout(idle.closed, 'idle close');
    assert.equal(info.code, 1000);
    assert.match(info.reason, /idle/);
    const took = info.at - t0;
    assert.ok(took >= 700 && took < 3000, `closed after ${took} ms`);
    // the one with a session stays well past the timeout
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(busy.ws.readyState, WebSocket.OPEN);
    // session over: the idle timer runs again
    busy.ws.send(JSON.stringify({ type: 'stop', session: session.session }));
    await busy.next((m) => m.type === 'ended');
    const t1 = Date.now();
    const info2 = await withTimeout(busy.closed, 'idle close after the session');
    assert.equal(info2.code, 1000);
    assert.ok(info2.at - t1 >= 600, `closed ${info2.at - t1} ms after the session`);
    await p.stop();
  });

  test('TLS when a certificate and key are given', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-wallet-tls-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    if (r.status !== 0) {
      t.skip('openssl cannot make a certificate');
      return;
    }
    const p = await startProbe(['--cert', cert, '--key', key, '--path', '/wallet']);
    const c = await connect(`wss://127.0.0.1:${p.port}/wallet`, [PROTO], { rejectUnauthorized: false });
    assert.ok(c.ws, c.refused);
    const hello = await c.next((m) => m.type === 'hello');
    assert.equal(hello.type, 'hello');
    c.ws.send(start('t1'));
    await c.next((m) => m.type === 'session' && m.id === 't1');
    c.ws.close();
    await c.closed;
    // plain ws:// to the TLS port fails; so does another path
    const plain = await connect(`ws://127.0.0.1:${p.port}/wallet`);
    assert.ok(plain.refused);
    const wrongPath = await connect(`wss://127.0.0.1:${p.port}/other`, [PROTO], { rejectUnauthorized: false });
    assert.equal(wrongPath.refused, 'http 404');
    await p.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
