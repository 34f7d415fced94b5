// demo.mjs: one complete paid charging session on loopback, as sim/demo runs
// it: a local chain (anvil) with the contracts deployed, the test CSMS, the
// simulated charger at 150 kW, wattstreamd with payments on, and the
// simulated wallet that opens a channel and pays per 100 Wh increment.
// Shows a progress line, then the bill, the vouchers, the on-chain claim
// and its gas, and writes a plot of the session (SVG).  Everything it
// starts, it stops by PID.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { startCsms } from './csms/csms.mjs';
import { BUILD_ROOT, SOURCE_ROOT, WATTSTREAMD, cleanup, lineClient, start, stopAll, tempDir } from '../tests/integration/lib/proc.mjs';

const CONTRACTS = path.join(SOURCE_ROOT, 'contracts');
const require = createRequire(path.join(CONTRACTS, 'package.json'));
const { Contract, JsonRpcProvider } = require('ethers');
const { startAnvil, DEV_KEYS } = await import(path.join(CONTRACTS, 'lib', 'anvil.mjs'));
// the contracts are compiled at first use (their artifacts are not committed)
if (!fs.existsSync(path.join(CONTRACTS, 'build', 'WattstreamChannels.json'))) {
  const r = spawnSync(process.execPath, ['scripts/compile.mjs'], { cwd: CONTRACTS, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cannot compile the contracts');
}
const { deploy } = await import(path.join(CONTRACTS, 'scripts', 'deploy.mjs'));

const SIM = path.join(BUILD_ROOT, 'sim', 'wattstream-sim');
const WALLET = path.join(BUILD_ROOT, 'sim', 'wattstream-wallet');
const PLOT = path.resolve(process.env.WS_DEMO_PLOT ?? path.join(BUILD_ROOT, 'demo-session.svg'));
const POWER_KW = 150, KWH = 2.5, PRICE = 300000n, DECIMALS = 6, INC_WH = 100;
const dir = tempDir('wattstream-demo-');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tokens = (base) => (Number(BigInt(base)) / 10 ** DECIMALS).toFixed(4);
let chain, csms;

function plot(samples, file) {
  const W = 720, H = 300, L = 60, R = 60, T = 30, B = 40;
  const t1 = Math.max(1, samples[samples.length - 1]?.t ?? 1);
  const maxKw = Math.max(1, ...samples.map((s) => s.kw));
  const maxWh = Math.max(1, ...samples.map((s) => Math.max(s.delivered, s.paid)));
  const x = (t) => L + (t / t1) * (W - L - R);
  const yKw = (v) => H - B - (v / maxKw) * (H - T - B);
  const yWh = (v) => H - B - (v / maxWh) * (H - T - B);
  const line = (f, y) => samples.map((s, i) => `${i ? 'L' : 'M'}${x(s.t).toFixed(1)},${y(f(s)).toFixed(1)}`).join(' ');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">wattstream demo: a paid session at ${POWER_KW} kW</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>
<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
<line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="black"/>
<text x="${W / 2}" y="${H - 8}" text-anchor="middle">time (s), 0 to ${t1.toFixed(0)}</text>
<text x="12" y="${T + 10}" fill="#c0392b">kW (max ${maxKw.toFixed(0)})</text>
<text x="${W - R + 4}" y="${T + 10}" fill="#2471a3">Wh (max ${maxWh.toFixed(0)})</text>
<path d="${line((s) => s.kw, yKw)}" fill="none" stroke="#c0392b" stroke-width="1.5"/>
<path d="${line((s) => s.paid, yWh)}" fill="none" stroke="#27ae60" stroke-width="1.5" stroke-dasharray="5,3"/>
<path d="${line((s) => s.delivered, yWh)}" fill="none" stroke="#2471a3" stroke-width="1.5"/>
<text x="${L + 10}" y="${H - B - 10}" fill="#c0392b">power</text>
<text x="${L + 70}" y="${H - B - 10}" fill="#2471a3">delivered</text>
<text x="${L + 150}" y="${H - B - 10}" fill="#27ae60">paid</text>
</svg>
`;
  fs.writeFileSync(file, svg);
}

async function main() {
  console.log('1. local chain (anvil) and the contracts');
  chain = await startAnvil({ port: 0 });
  const depFile = path.join(dir, 'deployment.json');
  const dep = await deploy({ rpcUrl: chain.url, challengePeriod: 86400, out: depFile });
  console.log(`   channels ${dep.contracts.channels.address}, registry ${dep.contracts.registry.address}, token ${dep.contracts.token.address}`);

  console.log('2. the test CSMS (OCPP 1.6-J, strict schema checks)');
  csms = await startCsms({ port: 0, heartbeatInterval: 60, log: false });

  console.log(`3. the simulated charger: SDM630 meter, contactor, an EV asking for ${POWER_KW} kW`);
  const sim = await start(SIM, ['--port', '0', '--power-kw', String(POWER_KW), '--capacity-kwh', '80'],
    { ready: /^READY port=(\d+)/, name: 'sim' });

  console.log('4. wattstreamd: metering, OCPP and payments');
  const port = 20000 + Math.floor(Math.random() * 20000);
  fs.mkdirSync(path.join(dir, 'state'), { mode: 0o700 });
  // the payee pays the gas of claims: a funded account of the local chain
  fs.writeFileSync(path.join(dir, 'state', 'payee.key'), DEV_KEYS[2] + '\n', { mode: 0o600 });
  const conf = path.join(dir, 'wattstreamd.conf');
  fs.writeFileSync(conf, `[station]
state_dir = ${dir}/state
control_socket = ${dir}/control.sock
[ocpp]
url = ${csms.url}
identity = DEMO-1
[payment]
enabled = true
rpc_url = ${chain.url}
deployment = ${depFile}
port = ${port}
price_per_kwh = ${PRICE}
increment_wh = ${INC_WH}
prepaid_increments = 1
grace_s = 10
min_deposit = 1000000
watch_interval_s = 5
[bus.default]
port = ${sim.match[1]}
[connector.1]
meter_poll_ms = 100
ev_sense = modbus
`);
  const d = await start(WATTSTREAMD, ['-c', conf], { ready: /<5>ready: /, name: 'wattstreamd' });
  const ctl = await lineClient(path.join(dir, 'control.sock'));
  await d.waitLine(/offer published in the registry/, 30000);
  console.log(`   wallet endpoint ws://127.0.0.1:${port}/wallet; offer signed and published on-chain`);

  console.log(`5. the driver's wallet opens a channel (deposit 3.0000 tokens) and charges ${KWH} kWh`);
  const wallet = spawn(WALLET, ['--rpc', chain.url, '--deployment', depFile, '--key-env', 'DEMO_DRIVER_KEY',
    '--station', `ws://127.0.0.1:${port}/wallet`, '--connector', '1', '--mint', '10000000',
    '--deposit', '3000000', '--max-kwh', String(KWH)], { env: { ...process.env, DEMO_DRIVER_KEY: DEV_KEYS[1] } });
  let out = '', err = '';
  wallet.stdout.setEncoding('utf8').on('data', (x) => { out += x; });
  wallet.stderr.setEncoding('utf8').on('data', (x) => { err += x; });
  const done = new Promise((resolve) => wallet.on('exit', resolve));

  const samples = [];
  const t0 = Date.now();
  let finished = false;
  done.then(() => { finished = true; });
  while (!finished) {
    const c = (await ctl.cmd('status')).connectors[0];
    const p = c.payment;
    if (p) {
      const s = { t: (Date.now() - t0) / 1000, kw: (c.reading.power_w ?? 0) / 1000,
        delivered: p.delivered_mwh / 1000, paid: p.allowance_mwh / 1000 };
      samples.push(s);
      const owed = (BigInt(p.delivered_mwh) * PRICE + 999999n) / 1000000n;
      process.stdout.write(`\r   ${p.state.padEnd(9)} ${s.kw.toFixed(1).padStart(6)} kW  delivered ${s.delivered.toFixed(1).padStart(7)} Wh` +
        `  paid for ${s.paid.toFixed(0).padStart(5)} Wh  owed ${tokens(owed)}  paid ${tokens(p.paid)} tokens   `);
    }
    await sleep(250);
  }
  process.stdout.write('\n');
  const code = await done;
  let bill;
  try { bill = JSON.parse(out.trim().split('\n').pop()); } catch { bill = null; }
  if (code !== 0 || !bill) throw new Error(`the wallet failed (exit ${code}):\n${err.split('\n').slice(-15).join('\n')}`);

  console.log('6. the bill (final receipt, signed by the station, checked by the wallet)');
  console.log(`   energy ${(bill.energyMwh / 1e6).toFixed(4)} kWh, amount due ${tokens(bill.amountDue)} tokens, paid ${tokens(bill.paid)} tokens`);
  console.log(`   ${bill.vouchersAccepted} vouchers accepted, ${bill.receiptsVerified} receipts verified, ended: ${bill.reason}`);
  const st = csms.received('StartTransaction').pop();
  console.log(`   the CSMS saw idTag ${st?.params.idTag} (a pseudonym, not the wallet), transaction ${st?.response?.result?.transactionId ?? '?'}`);
  const claimed = await d.waitLine(/claimed on-chain in (0x[0-9a-f]+): .*, gas used (\d+)/, 30000);
  console.log(`7. the station's claim: transaction ${claimed[1]}, gas ${claimed[2]}`);
  const provider = new JsonRpcProvider(chain.url);
  const channels = new Contract(dep.contracts.channels.address, dep.contracts.channels.abi, provider);
  const ch = await channels.getChannel(bill.channelId);
  console.log(`   channel ${bill.channelId.slice(0, 18)}…: deposit ${tokens(ch.deposit)}, claimed ${tokens(ch.claimed)} tokens (stays open for the next session)`);
  plot(samples, PLOT);
  console.log(`8. plot of the session (power, delivered and paid energy): ${PLOT}`);
  ctl.close();
  await d.stop();
  await sim.stop();
}

main().then(() => {
  console.log('done: everything the demo started is stopped.');
}).catch((e) => {
  console.error('\ndemo failed:', e.message);
  process.exitCode = 1;
}).finally(async () => {
  await stopAll();
  await csms?.stop();
  await chain?.stop();
  cleanup(dir);
});
