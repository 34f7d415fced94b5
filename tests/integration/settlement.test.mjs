// settlement.test.mjs: how the station gets paid on-chain, end to end on
// loopback: anvil with the contracts, the simulated charger, wattstreamd with
// [payment] on and the simulated wallet, each started here and stopped by PID.
// Batched claims (one claimMany for every channel due), a bad channel in a
// batch, a payee given as a plain address (claims exported with `claims` and
// submitted by contracts/scripts/submit-claims.mjs), and key rotation with
// wattstream-keys (payee and station).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BUILD_ROOT, SOURCE_ROOT, WATTSTREAMD, cleanup, lineClient, start, startSim, stopAll, tempDir, until } from './lib/proc.mjs';

const WALLET = path.join(BUILD_ROOT, 'sim', 'wattstream-wallet');
const KEYS = path.join(BUILD_ROOT, 'src', 'wattstream-keys');
const CONTRACTS = path.join(SOURCE_ROOT, 'contracts');
const SUBMIT = path.join(CONTRACTS, 'scripts', 'submit-claims.mjs');
const require = createRequire(path.join(CONTRACTS, 'package.json'));
const { Contract, JsonRpcProvider, Wallet, getAddress } = require('ethers');
const WebSocket = require('ws');
const { startAnvil, DEV_KEYS, rpc } = await import(path.join(CONTRACTS, 'lib', 'anvil.mjs'));
if (!fs.existsSync(path.join(CONTRACTS, 'build', 'WattstreamChannels.json'))) {
  const r = spawnSync(process.execPath, ['scripts/compile.mjs'], { cwd: CONTRACTS, stdio: 'inherit' });
  assert.equal(r.status, 0, 'contracts compile');
}
const { deploy } = await import(path.join(CONTRACTS, 'scripts', 'deploy.mjs'));

const PRICE = 300000n;
const NEVER = '1000000000000000000';	// a claim_threshold no session reaches
const addr = (k) => new Wallet(k).address;

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; if (process.env.WS_IT_VERBOSE) process.stderr.write(d); });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('settlement', () => {
  let dir, chain, dep, depFile, sim, d, port, provider, channels, registry;
  before(async () => {
    dir = tempDir();
    chain = await startAnvil({ port: 0 });
    depFile = path.join(dir, 'deployment.json');
    dep = await deploy({ rpcUrl: chain.url, challengePeriod: 3600, out: depFile });
    sim = await startSim(dir, ['--power-kw', '200']);
    port = 20000 + Math.floor(Math.random() * 20000);
    provider = new JsonRpcProvider(chain.url, undefined, { cacheTimeout: -1, staticNetwork: true });
    channels = new Contract(dep.contracts.channels.address, dep.contracts.channels.abi, provider);
    registry = new Contract(dep.contracts.registry.address, dep.contracts.registry.abi, provider);
  });
  after(async () => {
    await stopAll();
    provider?.destroy();
    await chain?.stop();
    cleanup(dir);
  });

  // a configuration in its own state folder; payee: a key file or an address
  function conf(name, { threshold = '0', payeeAddress, batchMax } = {}) {
    const state = path.join(dir, name);
    fs.mkdirSync(state, { recursive: true, mode: 0o700 });
    const file = path.join(dir, `${name}.conf`);
    fs.writeFileSync(file, `[station]
state_dir = ${state}
control_socket = ${dir}/control.sock
[payment]
enabled = true
rpc_url = ${chain.url}
deployment = ${depFile}
port = ${port}
price_per_kwh = ${PRICE}
increment_wh = 100
grace_s = 3
min_deposit = 100000
watch_interval_s = 1
claim_threshold = ${threshold}
${payeeAddress ? `payee_address = ${payeeAddress}\n` : ''}${batchMax ? `claim_batch_max = ${batchMax}\n` : ''}[bus.default]
port = ${sim.port}
[connector.1]
meter_poll_ms = 100
meter_failsafe_ms = 1000
ev_sense = modbus
`);
    return file;
  }
  async function startDaemon(confPath, ready = /offer published in the registry/) {
    if (d) {
      d.ctl.close();
      await d.stop();
    }
    // restarted at once: the new offer's nonce (milliseconds) still beats
    // the one published by the previous start
    d = await start(WATTSTREAMD, ['-c', confPath], { ready: /<5>ready: /, name: 'wattstreamd' });
    d.ctl = await lineClient(path.join(dir, 'control.sock'));
    if (ready) await d.waitLine(ready, 20000);
    return d;
  }
  const idle = async () => until(async () => {
    const c = (await d.ctl.cmd('status')).connectors[0];
    return c.state === 'ready' && !c.payment;
  }, { what: 'connector idle', timeoutMs: 15000 });
  // one paid session on a new channel; resolves to the wallet's bill
  async function session(args = []) {
    await idle();
    const child = spawn(WALLET, ['--rpc', chain.url, '--deployment', depFile, '--key-env', 'WS_TEST_DRIVER_KEY',
      '--station', `ws://127.0.0.1:${port}/wallet`, '--connector', '1', '--mint', '10000000',
      '--deposit', '3000000', '--max-kwh', '0.1', ...args],
    { env: { ...process.env, WS_TEST_DRIVER_KEY: DEV_KEYS[1] }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (x) => { out += x; });
    child.stderr.setEncoding('utf8').on('data', (x) => { err += x; });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, err.split('\n').slice(-15).join('\n'));
    const bill = JSON.parse(out.trim().split('\n').pop());
    assert.ok(BigInt(bill.paid) > 0n, JSON.stringify(bill));
    return { ...bill, stderr: err };
  }
  const claimedOf = async (id) => (await channels.getChannel(id)).claimed;
  // the Claimed events of the channels, with the transaction of each
  async function claimTxs(ids) {
    const evs = await channels.queryFilter(channels.filters.Claimed(), 0, 'latest');
    const want = new Set(ids.map((x) => x.toLowerCase()));
    return evs.filter((e) => want.has(e.args.channelId.toLowerCase())).map((e) => ({ id: e.args.channelId, tx: e.transactionHash }));
  }
  const keys = (confPath, ...args) => run(KEYS, ['-c', confPath, ...args]);

  test('every channel due goes in one claimMany transaction', async () => {
    fs.mkdirSync(path.join(dir, 'a'), { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'a', 'payee.key'), DEV_KEYS[2] + '\n', { mode: 0o600 });
    await startDaemon(conf('a', { threshold: NEVER }));
    const bills = [];
    for (let i = 0; i < 3; i++) bills.push(await session());
    for (const b of bills) assert.equal(await claimedOf(b.channelId), 0n, 'under the threshold: nothing claimed yet');
    assert.ok(!d.lines().some((l) => /claimed on-chain/.test(l)));
    // the threshold met by all three at once: one transaction
    await startDaemon(conf('a', { threshold: '1' }), null);
    const m = await d.waitLine(/claimed on-chain in (0x[0-9a-f]{64}): 3 channels \(claimMany\)/, 20000);
    for (const b of bills) assert.equal(await claimedOf(b.channelId), BigInt(b.paid), 'the highest voucher claimed');
    const txs = await claimTxs(bills.map((b) => b.channelId));
    assert.equal(txs.length, 3);
    assert.deepEqual(new Set(txs.map((t) => t.tx)), new Set([m[1]]), 'one transaction for the three');
    const tx = await provider.getTransaction(m[1]);
    assert.equal(tx.from, addr(DEV_KEYS[2]), 'sent by the payee');
    // recorded: nothing is claimed again
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(d.lines().filter((l) => /claimed on-chain/.test(l)).length, 1);
  });

  test('claim_batch_max bounds a transaction; the rest go in the next one', async () => {
    await startDaemon(conf('a', { threshold: NEVER }));
    const bills = [];
    for (let i = 0; i < 3; i++) bills.push(await session());
    await startDaemon(conf('a', { threshold: '1', batchMax: 2 }), null);
    await d.waitLine(/claimed on-chain in 0x[0-9a-f]{64}: 2 channels \(claimMany\)/, 20000);
    await d.waitLine(/claimed on-chain in 0x[0-9a-f]{64}: 1 channel \(claim\)/, 20000);
    for (const b of bills) assert.equal(await claimedOf(b.channelId), BigInt(b.paid));
    assert.equal(new Set((await claimTxs(bills.map((b) => b.channelId))).map((t) => t.tx)).size, 2);
  });

  test('one bad channel in a batch does not stop the others', async () => {
    await startDaemon(conf('a', { threshold: NEVER }));
    const bills = [];
    for (let i = 0; i < 3; i++) bills.push(await session());
    d.ctl.close();
    await d.stop();
    d = null;
    // the middle channel's stored voucher no longer matches its signature
    const bad = bills[1];
    const amount = (BigInt(bad.paid) + 1n).toString(16).padStart(64, '0');
    const q = spawnSync('sqlite3', [path.join(dir, 'a', 'wattstream.db'),
      `UPDATE pay_channels SET highest = X'${amount}' WHERE id = X'${bad.channelId.slice(2)}';`], { encoding: 'utf8' });
    assert.equal(q.status, 0, q.stderr);
    await startDaemon(conf('a', { threshold: '1' }), null);
    await d.waitLine(/a claimMany of 3 channels failed/, 20000);
    await until(async () => await claimedOf(bills[0].channelId) === BigInt(bills[0].paid) &&
      await claimedOf(bills[2].channelId) === BigInt(bills[2].paid), { what: 'the good channels claimed', timeoutMs: 20000 });
    await d.waitLine(new RegExp(`claim of channel ${bad.channelId} failed`), 20000);
    assert.equal(await claimedOf(bad.channelId), 0n);
    // the good ones went one per transaction; the bad one backs off
    const txs = await claimTxs([bills[0].channelId, bills[2].channelId]);
    assert.equal(new Set(txs.map((t) => t.tx)).size, 2);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(d.lines().filter((l) => /claim of channel .* failed/.test(l)).length, 1, 'the bad channel backs off');
    d.ctl.close();
    await d.stop();
    d = null;
  });

  test('wattstream-keys: show, generate, and refusals', async () => {
    const c = conf('k');
    let r = await keys(c, 'show');
    assert.equal(r.code, 1, 'no keys yet');
    assert.match(r.err, /no key file/);
    r = await keys(c, 'generate');
    assert.equal(r.code, 0, r.err);
    const st = r.out.match(/^station (0x[0-9a-fA-F]{40}) \S+ \(new\)$/m);
    assert.ok(st && /^payee 0x[0-9a-fA-F]{40} \S+ \(new\)$/m.test(r.out), r.out);
    assert.equal(fs.statSync(path.join(dir, 'k', 'station.key')).mode & 0o777, 0o600);
    r = await keys(c, 'show');
    assert.equal(r.code, 0);
    assert.ok(r.out.includes(`station ${st[1]} `));
    assert.ok(!/[0-9a-f]{64}/i.test(r.out), 'no secret printed');
    assert.equal((await keys(c, 'rotate', 'meter')).code, 2);
    assert.equal((await keys(c, 'frobnicate')).code, 2);
    // a key file others can read is refused, and nothing changes
    const loose = path.join(dir, 'loose.key');
    fs.writeFileSync(loose, DEV_KEYS[5] + '\n', { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    r = await keys(c, 'import', 'station', loose);
    assert.equal(r.code, 1);
    assert.match(r.err, /readable by group or others/);
    assert.ok((await keys(c, 'show')).out.includes(`station ${st[1]} `));
    // two rotations in one second keep both old keys; an import retires the current one
    assert.equal((await keys(c, 'rotate', 'station')).code, 0);
    assert.equal((await keys(c, 'rotate', 'station')).code, 0);
    fs.chmodSync(loose, 0o600);
    r = await keys(c, 'import', 'station', loose);
    assert.equal(r.code, 0, r.err);
    assert.equal((await keys(c, 'import', 'station', loose)).code, 1, 'already the station key');
    r = await keys(c, 'show');
    assert.ok(r.out.includes(`station ${addr(DEV_KEYS[5])} `), r.out);
    const retired = r.out.split('\n').filter((l) => l.startsWith('station-retired '));
    assert.equal(retired.length, 3, r.out);
    assert.equal(new Set(retired.map((l) => l.split(' ')[1])).size, 3);
    assert.ok(retired[0].includes(st[1]), 'oldest first');
    for (const f of fs.readdirSync(path.join(dir, 'k'))) assert.equal(fs.statSync(path.join(dir, 'k', f)).mode & 0o777, 0o600, f);
    // payee_address: no payee key here
    const ca = conf('k2', { payeeAddress: addr(DEV_KEYS[3]) });
    r = await keys(ca, 'rotate', 'payee');
    assert.equal(r.code, 2);
    assert.match(r.err, /payee_address is set/);
  });

  test('payee rotation: channels to the old payee are claimed by the old key; new sessions pay the new one', async () => {
    // a state of its own: the bad channel above stays unclaimed in 'a'
    const c = conf('r', { threshold: NEVER });
    fs.writeFileSync(path.join(dir, 'r', 'payee.key'), DEV_KEYS[2] + '\n', { mode: 0o600 });
    await startDaemon(c);
    const old = await session();	// to the old payee, left unclaimed
    d.ctl.close();
    await d.stop();
    d = null;
    let r = await keys(c, 'rotate', 'payee');
    assert.equal(r.code, 0, r.err);
    const newPayee = getAddress(r.out.match(/^payee (0x[0-9a-fA-F]{40}) /m)[1]);
    assert.notEqual(newPayee, addr(DEV_KEYS[2]));
    const retired = r.out.match(/^retired (\S+)$/m)[1];
    assert.equal(fs.statSync(retired).mode & 0o777, 0o600, 'the retired key stays 0600');
    r = await keys(c, 'show');
    assert.ok(r.out.includes(`payee ${newPayee} `) && r.out.includes(`payee-retired ${addr(DEV_KEYS[2])} `), r.out);
    // the new payee pays gas
    await rpc(chain.url, 'anvil_setBalance', [newPayee, '0x56BC75E2D63100000']);
    await startDaemon(conf('r', { threshold: '1' }));
    await d.waitLine(/retired payee key 0x[0-9a-fA-F]{40} \(claims the channels opened to it\)/);
    await until(async () => await claimedOf(old.channelId) === BigInt(old.paid), { what: 'old channel claimed', timeoutMs: 20000 });
    const [ev] = await claimTxs([old.channelId]);
    assert.equal((await provider.getTransaction(ev.tx)).from, addr(DEV_KEYS[2]), 'claimed by the retired key');
    await d.waitLine(/retired payee key 0x[0-9a-fA-F]{40}: nothing left to claim/, 10000);
    // the offer now names the new payee; a new session opens its channel to it
    const pubs = await registry.queryFilter(registry.filters.OfferPublished(null, newPayee), 0, 'latest');
    assert.ok(pubs.length >= 1, 'an offer for the new payee');
    const fresh = await session();
    assert.equal((await channels.getChannel(fresh.channelId)).receiver, newPayee);
    await until(async () => await claimedOf(fresh.channelId) === BigInt(fresh.paid), { what: 'new channel claimed', timeoutMs: 20000 });
    const [ev2] = await claimTxs([fresh.channelId]);
    assert.equal((await provider.getTransaction(ev2.tx)).from, newPayee);
    // a session on a channel to the old payee is refused by the station
    await idle();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/wallet`, 'wattstream.wallet.1');
    const msgs = [];
    ws.on('message', (x) => msgs.push(JSON.parse(String(x))));
    await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
    ws.send(JSON.stringify({ type: 'start', id: 's1', connector: 1, channelId: old.channelId }));
    await until(() => msgs.some((x) => x.type === 'error'), { what: 'start refused', timeoutMs: 10000 });
    assert.match(JSON.stringify(msgs.find((x) => x.type === 'error')), /channel_wrong_receiver/);
    ws.close();
  });

  test('station rotation: the new key signs and publishes the offer; the old address stays listed', async () => {
    const c = conf('r', { threshold: '1' });
    const before_ = (await keys(c, 'show')).out.match(/^station (0x[0-9a-fA-F]{40}) /m)[1];
    d.ctl.close();
    await d.stop();
    d = null;
    const r = await keys(c, 'rotate', 'station');
    assert.equal(r.code, 0, r.err);
    const now = getAddress(r.out.match(/^station (0x[0-9a-fA-F]{40}) /m)[1]);
    assert.notEqual(now, getAddress(before_));
    assert.ok((await keys(c, 'show')).out.includes(`station-retired ${getAddress(before_)} `));
    await startDaemon(c);
    await d.waitLine(new RegExp(`retired station key ${getAddress(before_)}`));
    const [nonce] = await registry.latest(now);
    assert.ok(nonce > 0n, 'an offer signed by the new station key is in the registry');
    const pubs = await registry.queryFilter(registry.filters.OfferPublished(now), 0, 'latest');
    assert.ok(pubs.length >= 1);
    // a wallet checks the offer and every receipt against the new key
    const bill = await session();
    assert.ok(bill.receiptsVerified >= 1 && !bill.receiptBad, JSON.stringify(bill));
    d.ctl.close();
    await d.stop();
    d = null;
  });

  test('payee_address: the station claims nothing; submit-claims.mjs lands the exported claims; the station sees them', async () => {
    const payee = addr(DEV_KEYS[3]);
    const c = conf('p', { payeeAddress: payee });
    await startDaemon(c, /offer was not published in the registry/);
    const keyFile = path.join(dir, 'other-machine.key');
    fs.writeFileSync(keyFile, DEV_KEYS[3] + '\n', { mode: 0o600 });
    const submit = async () => {
      const ex = await d.ctl.cmd('claims');
      assert.ok(ex.ok, JSON.stringify(ex));
      const f = path.join(dir, 'claims.json');
      fs.writeFileSync(f, JSON.stringify(ex));
      const r = await run(process.execPath, [SUBMIT, '--rpc', chain.url, '--claims', f, '--key-file', keyFile]);
      assert.equal(r.code, 0, r.err + r.out);
      return { ex, out: JSON.parse(r.out.trim().split('\n').pop()) };
    };
    // the station key has no ether: the other machine publishes the offer
    let s = await submit();
    assert.equal(s.ex.mode, 'address');
    assert.equal(s.ex.claims.length, 0);
    assert.equal(s.out.offer, 'published');
    const bills = [await session(), await session()];
    for (const b of bills) assert.equal((await channels.getChannel(b.channelId)).receiver, payee);
    await until(async () => (await d.ctl.cmd('claims')).claims.length === 2, { what: 'two claims exported', timeoutMs: 10000 });
    assert.ok(!d.lines().some((l) => /claimed on-chain in/.test(l)), 'the station sends no claim');
    for (const b of bills) assert.equal(await claimedOf(b.channelId), 0n);
    s = await submit();
    assert.equal(s.out.claimed.length, 2);
    assert.equal(s.out.transactions.length, 1, 'one claimMany');
    assert.equal(s.out.offer, 'current');
    for (const b of bills) assert.equal(await claimedOf(b.channelId), BigInt(b.paid));
    // the station learns it from the chain
    await d.waitLine(/claimed on-chain \(seen on the chain\)/, 10000);
    await until(async () => (await d.ctl.cmd('claims')).claims.length === 0, { what: 'nothing left to claim', timeoutMs: 10000 });
    // a close request without a payee key here: crit at every round until claimed
    const closing = await session(['--request-close-after']);
    assert.match(closing.stderr, /close requested/);
    await d.waitLine(/<2>.*close requested on channel .* has no key here/, 10000);
    await until(() => d.lines().filter((l) => /<2>.*close requested on channel/.test(l)).length >= 2, { what: 'said again', timeoutMs: 10000 });
    await until(async () => (await d.ctl.cmd('claims')).claims.some((x) => x.close), { what: 'close flag exported', timeoutMs: 10000 });
    s = await submit();
    assert.equal(s.out.claimed.length, 1);
    assert.equal((await channels.getChannel(closing.channelId)).sender, '0x0000000000000000000000000000000000000000', 'final claim closed it');
    await d.waitLine(/is closed on-chain; nothing is left to claim/, 10000);
    const n = d.lines().filter((l) => /<2>.*close requested on channel/.test(l)).length;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(d.lines().filter((l) => /<2>.*close requested on channel/.test(l)).length, n, 'quiet once claimed');
  });
});
