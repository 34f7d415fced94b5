// payment.test.mjs: paid charging end to end on loopback: anvil with the
// contracts, the strict test CSMS, the simulated charger, wattstreamd with
// [payment] on, and the simulated wallet (wattstream-wallet), each started
// here and stopped by PID.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startCsms } from '../../sim/csms/csms.mjs';
import { BUILD_ROOT, SOURCE_ROOT, WATTSTREAMD, cleanup, lineClient, start, startSim, stopAll, tempDir, until, writeConfig } from './lib/proc.mjs';

const WALLET = path.join(BUILD_ROOT, 'sim', 'wattstream-wallet');
const CONTRACTS = path.join(SOURCE_ROOT, 'contracts');
const require = createRequire(path.join(CONTRACTS, 'package.json'));
const { Contract, JsonRpcProvider } = require('ethers');
const { startAnvil, DEV_KEYS } = await import(path.join(CONTRACTS, 'lib', 'anvil.mjs'));
if (!fs.existsSync(path.join(CONTRACTS, 'build', 'WattstreamChannels.json'))) {
  const r = spawnSync(process.execPath, ['scripts/compile.mjs'], { cwd: CONTRACTS, stdio: 'inherit' });
  assert.equal(r.status, 0, 'contracts compile');
}
const { deploy } = await import(path.join(CONTRACTS, 'scripts', 'deploy.mjs'));

const ID = 'CP-pay-1';
const PRICE = 300000n;		// base units per kWh
const INC_WH = 100;

function runWallet(chain, depFile, args) {
  const child = spawn(WALLET, ['--rpc', chain.url, '--deployment', depFile, '--key-env', 'WS_TEST_DRIVER_KEY', ...args],
    { env: { ...process.env, WS_TEST_DRIVER_KEY: DEV_KEYS[1] }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { err += d; if (process.env.WS_IT_VERBOSE) process.stderr.write(d); });
  const done = new Promise((resolve) => child.on('exit', (code) => {
    let bill = null;
    try { bill = JSON.parse(out.trim().split('\n').pop()); } catch { /* none */ }
    resolve({ code, bill, stderr: err });
  }));
  return { child, done };
}

describe('paid charging', () => {
  let dir, chain, dep, depFile, csms, sim, d, port, confPath, provider, channels;
  before(async () => {
    dir = tempDir();
    chain = await startAnvil({ port: 0 });
    dep = await deploy({ rpcUrl: chain.url, challengePeriod: 3600, out: path.join(dir, 'deployment.json') });
    depFile = path.join(dir, 'deployment.json');
    csms = await startCsms({ port: 0, heartbeatInterval: 300, log: false });
    sim = await startSim(dir, ['--power-kw', '200']);
    // the payee pays gas for claims and the offer: a funded dev account
    fs.mkdirSync(path.join(dir, 'state'), { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'state', 'payee.key'), DEV_KEYS[2] + '\n', { mode: 0o600 });
    port = 20000 + Math.floor(Math.random() * 20000);
    const conf = writeConfig(dir, `[station]
state_dir = ${dir}/state
control_socket = ${dir}/control.sock
[ocpp]
url = ${csms.url}
identity = ${ID}
[payment]
enabled = true
rpc_url = ${chain.url}
deployment = ${depFile}
port = ${port}
price_per_kwh = ${PRICE}
increment_wh = ${INC_WH}
prepaid_increments = 1
grace_s = 3
min_deposit = 100000
watch_interval_s = 1
[bus.default]
port = ${sim.port}
[connector.1]
meter_poll_ms = 100
meter_failsafe_ms = 1000
ev_sense = modbus
`);
    confPath = conf;
    d = await startDaemon();
    await d.waitLine(/offer published in the registry/, 20000);
    provider = new JsonRpcProvider(chain.url);
    channels = new Contract(dep.contracts.channels.address, dep.contracts.channels.abi, provider);
  });
  async function startDaemon() {
    const x = await start(WATTSTREAMD, ['-c', confPath], { ready: /<5>ready: /, name: 'wattstreamd' });
    x.ctl = await lineClient(path.join(dir, 'control.sock'));
    return x;
  }
  const wallet = (args) => runWallet(chain, depFile, ['--station', `ws://127.0.0.1:${port}/wallet`,
    '--connector', '1', '--mint', '10000000', ...args]);
  const idle = async () => until(async () => {
    const c = (await d.ctl.cmd('status')).connectors[0];
    return c.state === 'ready' && !c.payment && !c.transaction;
  }, { what: 'connector idle', timeoutMs: 15000 });
  after(async () => {
    await stopAll();
    await csms?.stop();
    await chain?.stop();
    cleanup(dir);
  });

  test('a wallet pays per increment; receipts check out; the station claims on-chain', async () => {
    const m = csms.mark();
    let st;
    const w = runWallet(chain, depFile, ['--station', `ws://127.0.0.1:${port}/wallet`, '--connector', '1',
      '--deposit', '3000000', '--mint', '10000000', '--max-kwh', '0.35']);
    const r = await w.done;
    assert.equal(r.code, 0, r.stderr.split('\n').slice(-20).join('\n'));
    const bill = r.bill;
    assert.ok(bill.receiptsVerified >= 3, JSON.stringify(bill));
    assert.ok(!bill.receiptBad, JSON.stringify(bill.errors));
    // --max-kwh 0.35: the wallet stops once it has that much
    assert.ok(bill.energyMwh >= 300000 && bill.energyMwh <= 450000, `energy ${bill.energyMwh}`);
    // energy beyond what was paid: less than one increment (the cut's latency)
    const oneIncrement = PRICE * BigInt(INC_WH) / 1000n;
    assert.ok(BigInt(bill.amountDue) <= BigInt(bill.paid) + oneIncrement, JSON.stringify(bill));
    assert.ok(bill.vouchersAccepted >= 3 && bill.vouchersRejected === 0, JSON.stringify(bill));
    assert.equal(BigInt(bill.amountDue), (BigInt(bill.energyMwh) * PRICE + 999999n) / 1000000n);
    if (process.env.WS_IT_VERBOSE) console.log(JSON.stringify(bill));
    // OCPP saw a transaction with a pseudonymous idTag, not the wallet
    st = await csms.waitFor('StartTransaction', null, 5000, { since: m });
    assert.match(st.params.idTag, /^WS[0-9A-F]{18}$/);
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m });
    assert.equal(stop.params.reason, 'Local');
    // delivered energy never ran more than one increment ahead of payment
    const s = await d.ctl.cmd('status');
    assert.ok(s.ok);
    await d.waitLine(/claimed on-chain/, 20000);
    const ch = await channels.getChannel(bill.channelId);
    assert.equal(ch.claimed, BigInt(bill.paid), 'the highest voucher is claimed');
    // the payment totals reach the CSMS, naming neither channel nor wallet
    const dt = await csms.waitFor('DataTransfer', (x) => x.params.messageId === 'PaymentTotals', 5000, { since: m });
    assert.equal(dt.params.vendorId, 'org.wattstream');
    const totals = JSON.parse(dt.params.data);
    assert.equal(totals.amountDue, bill.amountDue);
    assert.equal(totals.idTag, st.params.idTag);
    assert.ok(!dt.params.data.toLowerCase().includes(bill.channelId.slice(2, 20).toLowerCase()));
    assert.ok(!dt.params.data.toLowerCase().includes('70997970c51812dc3a010c7d01b50e0d17dc79c8'), 'no wallet address');
  });

  test('the operator sets the tariff from the CSMS: a new offer, new sessions pay it', async () => {
    await idle();
    const g = await csms.call(ID, 'GetConfiguration', { key: ['WattstreamPricePerKWh'] });
    assert.equal(g.configurationKey[0].value, String(PRICE));
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'WattstreamPricePerKWh', value: 'cheap' })).status, 'Rejected');
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'WattstreamPricePerKWh', value: '600000' })).status, 'Accepted');
    await d.waitLine(/new tariff: 600000 per kWh/, 10000);
    const published = () => d.lines().filter((l) => /offer published in the registry/.test(l)).length;
    const n0 = published();
    await until(() => published() > n0 || d.lines().filter((l) => /offer published/.test(l)).length >= 2, { what: 'new offer published', timeoutMs: 20000 });
    const r = await wallet(['--deposit', '3000000', '--max-kwh', '0.2']).done;
    assert.equal(r.code, 0, r.stderr.split('\n').slice(-10).join('\n'));
    assert.equal(r.bill.pricePerKWh, '600000');
    assert.equal(BigInt(r.bill.amountDue) - BigInt(r.bill.base), (BigInt(r.bill.energyMwh) * 600000n + 999999n) / 1000000n);
    const n1 = published();
    assert.equal((await csms.call(ID, 'ChangeConfiguration', { key: 'WattstreamPricePerKWh', value: String(PRICE) })).status, 'Accepted');
    await until(() => published() > n1, { what: 'old tariff published again', timeoutMs: 20000 });
  });

  test('a wallet that stops paying: cut within one increment, DeAuthorized after the grace, channel denied', async () => {
    await idle();
    const m = csms.mark();
    const r = await wallet(['--deposit', '3000000', '--stop-paying-after', '2']).done;
    assert.equal(r.bill?.reason, 'unpaid', r.stderr.split('\n').slice(-10).join('\n'));
    const oneIncrement = PRICE * BigInt(INC_WH) / 1000n;
    assert.ok(BigInt(r.bill.amountDue) <= BigInt(r.bill.paid) + oneIncrement, JSON.stringify(r.bill));
    const stop = await csms.waitFor('StopTransaction', null, 10000, { since: m });
    assert.equal(stop.params.reason, 'DeAuthorized');
    assert.equal((await sim.ctl.cmd('status 1')).coil, 0);
    // the same channel may not start again
    await idle();
    const again = await wallet(['--channel', r.bill.channelId]).done;
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /channel_denied/);
  });

  test('a wallet that pays late but within the grace time is resumed', async () => {
    await idle();
    const r = await wallet(['--deposit', '3000000', '--pay-late-ms', '1200', '--max-kwh', '0.3']).done;
    assert.equal(r.code, 0, r.stderr.split('\n').slice(-10).join('\n'));
    assert.equal(r.bill.reason, 'stopped');
    assert.ok(r.bill.energyMwh >= 300000, JSON.stringify(r.bill));
    assert.equal(r.bill.vouchersRejected, 0);
  });

  for (const [flag, code] of [[['--sign-with-stranger'], 'voucher_wrong_signer'], [['--replay-old'], 'voucher_not_higher'],
    [['--pay-less'], null]]) {
    test(`forged or wrong vouchers are refused and pay nothing: ${flag.join(' ')}`, async () => {
      await idle();
      const before_ = (await sim.ctl.cmd('status 1')).true_energy_wh;
      const r = await wallet(['--deposit', '3000000', '--max-kwh', '0.3', ...flag]).done;
      const after_ = (await sim.ctl.cmd('status 1')).true_energy_wh;
      if (code) assert.match(r.stderr + JSON.stringify(r.bill), new RegExp(code));
      // whatever the wallet does, energy never exceeds what valid vouchers paid by more than one increment
      const paidWh = Number(BigInt(r.bill?.paid ?? 0) - BigInt(r.bill?.base ?? 0)) * 1000 / Number(PRICE);
      assert.ok(after_ - before_ <= paidWh + INC_WH + 1, `delivered ${after_ - before_} Wh, paid ${paidWh} Wh`);
    });
  }

  test('kill -9 mid-session: the highest voucher survives and is claimed; no energy without a new session', async () => {
    await idle();
    const w = wallet(['--deposit', '3000000', '--max-kwh', '5']);
    await d.waitLine(/session for idTag/, 15000);
    await until(async () => BigInt((await d.ctl.cmd('status')).connectors[0].payment?.paid ?? 0) >= 60000n, { what: 'paid' });
    const paid = BigInt((await d.ctl.cmd('status')).connectors[0].payment.paid);
    const channelId = (await d.ctl.cmd('status')).connectors[0].payment.channel;
    d.ctl.close();
    await d.stop('SIGKILL');
    w.child.kill('SIGTERM');
    await w.done;
    d = await startDaemon();
    assert.equal((await sim.ctl.cmd('status 1')).coil, 0, 'contactor opened at start');
    await until(async () => (await channels.getChannel(channelId)).claimed >= paid, { what: 'claimed after restart', timeoutMs: 20000 });
    const e0 = (await sim.ctl.cmd('status 1')).true_energy_wh;
    await new Promise((res) => setTimeout(res, 500));
    assert.equal((await sim.ctl.cmd('status 1')).true_energy_wh, e0, 'no energy without a session');
  });

  test('a close request is answered inside the challenge period (watchtower)', async () => {
    // no partial claims for this one: the station holds the voucher unclaimed
    await d.ctl.cmd('status');
    d.ctl.close();
    await d.stop();
    const text = fs.readFileSync(confPath, 'utf8');
    fs.writeFileSync(confPath, text.replace('watch_interval_s = 1', 'watch_interval_s = 1\nclaim_threshold = 1000000000'));
    d = await startDaemon();
    await idle();
    const r = await wallet(['--deposit', '3000000', '--max-kwh', '0.2', '--request-close-after']).done;
    assert.equal(r.code, 0, r.stderr.split('\n').slice(-10).join('\n'));
    assert.match(r.stderr, /close requested/);
    await d.waitLine(/close requested on a channel we hold a voucher for/, 20000);
    await d.waitLine(/final claim \(close request answered\)/, 20000);
    const ch = await channels.getChannel(r.bill.channelId);
    // the final claim paid the station its voucher and closed the channel
    assert.equal(ch.sender, '0x0000000000000000000000000000000000000000');
    fs.writeFileSync(confPath, text);
  });

  test('the CSMS away mid-session: payments and charging go on, OCPP catches up', async () => {
    await idle();
    const m = csms.mark();
    const w = wallet(['--deposit', '3000000', '--max-kwh', '0.4']);
    await csms.waitFor('StartTransaction', null, 15000, { since: m });
    // away for longer than the session lasts: it ends while the CSMS is away
    const { reopened } = await csms.goAway(10000);
    let back = false;
    reopened.then(() => { back = true; });
    const r = await w.done;
    assert.equal(r.code, 0, r.stderr.split('\n').slice(-10).join('\n'));
    assert.ok(r.bill.energyMwh >= 400000);
    assert.ok(!back, 'the session outlasted the outage; make the outage longer');
    await reopened;
    const stop = await csms.waitFor('StopTransaction', null, 30000, { since: m });
    assert.equal(stop.params.reason, 'Local');
    // the payment totals are queued like the transaction's messages:
    // they arrive, also when the session ended while the CSMS was away
    const dt = await csms.waitFor('DataTransfer', (x) => x.params.messageId === 'PaymentTotals', 30000, { since: m });
    assert.equal(JSON.parse(dt.params.data).paid, r.bill.paid);
  });
});
