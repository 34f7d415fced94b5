// overrun.mjs: energy delivered beyond what was paid when a wallet stops
// paying, at 11, 50, 150 and 350 kW with a 10 Hz meter (meter_poll_ms =
// 100), real time.  anvil with the contracts, wattstream-sim, wattstreamd
// with [payment] on (small increments so sessions are short) and
// wattstream-wallet --stop-paying-after 1: the wallet pays the first invoice
// (1 + prepaid increments), then nothing; the daemon cuts when the meter
// (or its projection from the present power) reaches the allowance.
// Overrun per session = the sim's true delivered energy (exact, from its
// model; the contactor confirmed open) minus the allowance ((paid − base) ×
// 10⁶ / price mWh, as the daemon computes it); also shown: the daemon's own
// meter view (the bill's energyMwh; float32 register, ~0.12 Wh steps).
// Prints median and max per power in Wh and in increments; judges nothing.
// usage: node tests/bench/overrun.mjs [sessions per power (5)] [increment Wh (10)]
//        (WS_BUILD_ROOT: build folder).  About 2 minutes with the defaults.
import fs from 'node:fs';
import path from 'node:path';

import { WATTSTREAMD, cleanup, lineClient, start, startSim, stopAll, tempDir, until } from '../integration/lib/proc.mjs';
import { deployAll, payConfig, runWallet, startChain, walletPort, writePayeeKey } from '../integration/lib/pay-rig.mjs';

const N = Number(process.argv[2] ?? 5);
const INC_WH = Number(process.argv[3] ?? 10);
const POWERS_KW = [11, 50, 150, 350];
const PRICE = 300000n;

const dir = tempDir('ws-bench-overrun-');
let chain;
try {
  chain = await startChain();
  const { depFile } = await deployAll(chain, dir);
  const sim = await startSim(dir, ['--power-kw', String(POWERS_KW[0])]);
  writePayeeKey(dir);
  const port = walletPort();
  const conf = path.join(dir, 'wattstreamd.conf');
  // grace 1 s: a cut session ends quickly; no claims meanwhile (threshold)
  fs.writeFileSync(conf, payConfig({ dir, chainUrl: chain.url, depFile, simPort: sim.port, walletPort: port,
    price: PRICE, incrementWh: INC_WH, prepaid: 1, graceS: 1, watchS: 3600, claimThreshold: 10n ** 18n }));
  const d = await start(WATTSTREAMD, ['-c', conf], { ready: /<5>ready: /, name: 'wattstreamd' });
  d.ctl = await lineClient(path.join(dir, 'control.sock'));
  await d.waitLine(/offer published in the registry/, 20000);
  const station = `ws://127.0.0.1:${port}/wallet`;
  const idle = () => until(async () => {
    const c = (await d.ctl.cmd('status')).connectors[0];
    return c.state === 'ready' && !c.payment && (await sim.ctl.cmd('status 1')).coil === 0;
  }, { what: 'connector idle', timeoutMs: 15000 });

  console.log(`overrun at the cut (wallet stops paying), ${INC_WH} Wh increments, 1 prepaid, 10 Hz meter, ` +
    `real time, ${N} sessions per power:`);
  const rows = [];
  for (const kw of POWERS_KW) {
    await sim.ctl.cmd(`power 1 ${kw}`);
    await sim.ctl.cmd('soc 1 20');
    const over = [], overMeter = [];
    for (let i = 0; i < N; i++) {
      await idle();
      const e0 = (await sim.ctl.cmd('status 1')).true_energy_wh;
      const w = await runWallet({ chainUrl: chain.url, depFile, station, name: `wallet-${kw}-${i}`,
        args: ['--connector', '1', '--deposit', '1000000', '--mint', '1000000', '--stop-paying-after', '1'] });
      const r = await w.done;
      if (r.bill?.reason !== 'unpaid')
        throw new Error(`${kw} kW session ${i}: expected an unpaid end, got ${JSON.stringify(r.bill)}\n${r.stderr.split('\n').slice(-10).join('\n')}`);
      await idle();
      const e1 = (await sim.ctl.cmd('status 1')).true_energy_wh;
      const allowanceMwh = (BigInt(r.bill.paid) - BigInt(r.bill.base)) * 1000000n / PRICE;
      over.push(e1 - e0 - Number(allowanceMwh) / 1000);
      overMeter.push((r.bill.energyMwh - Number(allowanceMwh)) / 1000);
    }
    over.sort((a, b) => a - b);
    overMeter.sort((a, b) => a - b);
    const med = (a) => (a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2);
    const row = { kw, med: med(over), max: over[over.length - 1], medMeter: med(overMeter), maxMeter: overMeter[overMeter.length - 1] };
    rows.push(row);
    console.log(`  ${String(kw).padStart(3)} kW: overrun median ${row.med.toFixed(3)} Wh (${(row.med / INC_WH).toFixed(3)} increment), ` +
      `max ${row.max.toFixed(3)} Wh (${(row.max / INC_WH).toFixed(3)} increment); ` +
      `by the daemon's meter: median ${row.medMeter.toFixed(3)}, max ${row.maxMeter.toFixed(3)} Wh; ` +
      `one increment lasts ${(INC_WH * 3600 / kw).toFixed(0)} ms`);
  }
  const r350 = rows.find((r) => r.kw === 350);
  console.log(`  target: at most one increment at 350 kW; measured max ${(r350.max / INC_WH).toFixed(3)} increment ` +
    `(${r350.max.toFixed(2)} Wh of ${INC_WH} Wh)`);
} finally {
  await stopAll();
  await chain?.stop();
  cleanup(dir);
}
