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
  let dir, chain, dep, depFile, csms, sim, d, port;
  before(async () => {
    dir = tempDir();
    chain = await startAnvil({ port: 0 });
    dep = await deploy({ rpcUrl: chain.url, challengePeriod: 3600, out: path.join(dir, 'deployment.json') });
    depFile = path.join(dir, 'deployment.json');
    csms = await startCsms({ port: 0, heartbeatInterval: 300, log: false });
    sim = await startSim(dir, ['--power-kw', '50']);
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
[bus.default]
port = ${sim.port}
[connector.1]
meter_poll_ms = 100
meter_failsafe_ms = 1000
ev_sense = modbus
`);
    d = await start(WATTSTREAMD, ['-c', conf], { ready: /<5>ready: /, name: 'wattstreamd' });
    d.ctl = await lineClient(path.join(dir, 'control.sock'));
    await d.waitLine(/offer published in the registry/, 20000);
  });
  after(async () => {
    await stopAll();
    await csms?.stop();
    await chain?.stop();
    cleanup(dir);
  });

  test('a wallet pays per increment; receipts check out; the station claims on-chain', async () => {
    const m = csms.mark();
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
    const st = await csms.waitFor('StartTransaction', null, 5000, { since: m });
    assert.match(st.params.idTag, /^WS[0-9A-F]{18}$/);
    const stop = await csms.waitFor('StopTransaction', null, 5000, { since: m });
    assert.equal(stop.params.reason, 'Local');
    // delivered energy never ran more than one increment ahead of payment
    const s = await d.ctl.cmd('status');
    assert.ok(s.ok);
    await d.waitLine(/claimed on-chain/, 20000);
  });
});
