// demo.mjs: the metering demo that sim/demo runs (see sim/demo).
// Starts wattstream-sim on its default port and wattstreamd on the embedded
// defaults (state and control socket in a temporary folder through
// STATE_DIRECTORY / RUNTIME_DIRECTORY, as systemd would pass them), then
// drives a short session through the control socket and prints progress.
import path from 'node:path';
import { BUILD_ROOT, WATTSTREAMD, cleanup, lineClient, start, stopAll, tempDir, until } from '../tests/integration/lib/proc.mjs';

const WATTSTREAM_SIM = path.join(BUILD_ROOT, 'sim', 'wattstream-sim');
const dir = tempDir('wattstream-demo-');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const kw = (w) => (w / 1000).toFixed(1).padStart(5);

async function main() {
  console.log('1. the simulated charger: an SDM630 meter, a contactor and an EV asking for 22 kW');
  const sim = await start(WATTSTREAM_SIM, ['--port', '1502', '--power-kw', '22',
    '--control', path.join(dir, 'sim.sock')], { ready: /^READY port=/, name: 'sim' });
  const simCtl = await lineClient(path.join(dir, 'sim.sock'));

  console.log('2. wattstreamd on the embedded defaults (no configuration file)');
  const d = await start(WATTSTREAMD, [],
    { ready: /<5>ready: /, name: 'wattstreamd', env: { STATE_DIRECTORY: dir, RUNTIME_DIRECTORY: dir } });
  const ctl = await lineClient(path.join(dir, 'control.sock'));
  const st = async () => (await ctl.cmd('status')).connectors[0];
  let c = await st();
  console.log(`   connector 1 is ${c.state}, contactor ${c.contactor}, meter at ${(c.reading.energy_wh / 1000).toFixed(3)} kWh`);

  console.log('3. a session closes the contactor; energy flows');
  console.log('  ', JSON.stringify(await ctl.cmd('close 1 demo-session')));
  const start0 = (await st()).reading.energy_wh;
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    c = await st();
    const s = await simCtl.cmd('status 1');
    process.stdout.write(`\r   ${c.state.padEnd(9)} contactor ${c.contactor.padEnd(6)} power ${kw(c.reading.power_w ?? 0)} kW  delivered ${(c.reading.energy_wh - start0).toFixed(1).padStart(7)} Wh (sim: ${s.true_energy_wh.toFixed(1)} Wh)   `);
  }
  process.stdout.write('\n');

  console.log('4. the meter goes silent: wattstreamd opens the contactor within the fail-safe time (2 s)');
  await simCtl.cmd('freeze 1 on');
  const t0 = Date.now();
  c = await until(async () => { const x = await st(); return x.state === 'faulted' && x; }, { timeoutMs: 10000 });
  console.log(`   after ${Date.now() - t0} ms: ${c.state} (${c.fault_detail})`);
  await simCtl.cmd('freeze 1 off');
  c = await until(async () => { const x = await st(); return x.state === 'ready' && x; }, { timeoutMs: 10000 });
  const s = await simCtl.cmd('status 1');
  console.log(`   meter back: ${c.state}, contactor ${c.contactor} (sim coil ${s.coil}); it stays open until a new session`);
  console.log('5. fault history:', JSON.stringify((await ctl.cmd('faults')).faults.map((f) => ({ kind: f.kind, detail: f.detail, cleared_by: f.cleared_by }))));
  ctl.close();
  simCtl.close();
  await d.stop();
  await sim.stop();
  console.log('done: everything started by the demo is stopped.');
}

main().catch(async (e) => {
  console.error('demo failed:', e.message);
  process.exitCode = 1;
}).finally(async () => {
  await stopAll();
  cleanup(dir);
});
