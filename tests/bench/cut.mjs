// cut.mjs: contactor cut latency of wattstreamd against wattstream-sim over
// Modbus TCP loopback: the time from the daemon's open command (what the
// payment cut issues when the allowance is used up) to the contactor's
// read-back confirming it open, as the daemon measures it (cut_latency_us).
// Prints p50/p99/max over N cuts; judges nothing.
// usage: node tests/bench/cut.mjs [cuts]     (WS_BUILD_ROOT: build folder)
import { cleanup, startDaemon, startSim, stopAll, tempDir, until } from '../integration/lib/proc.mjs';

const N = Number(process.argv[2] ?? 200);
const dir = tempDir('ws-bench-cut-');
try {
  const sim = await startSim(dir, ['--power-kw', '350']);
  const d = await startDaemon(dir, `[station]\nstate_dir = ${dir}/state\ncontrol_socket = ${dir}/control.sock\n` +
    `[bus.default]\nport = ${sim.port}\n[connector.1]\nmeter_poll_ms = 100\n`);
  const st = async () => (await d.ctl.cmd('status')).connectors[0];
  const lat = [];
  for (let i = 0; i < N; i++) {
    await d.ctl.cmd(`close 1 bench-${i}`);
    await until(async () => (await st()).state === 'energized', { everyMs: 1, what: 'energized' });
    await d.ctl.cmd('open 1');
    const c = await until(async () => { const x = await st(); return x.state === 'ready' && x; }, { everyMs: 1, what: 'ready' });
    lat.push(c.cut_latency_us);
  }
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
  console.log(`cut latency (open command -> contactor read back open), ${N} cuts, Modbus TCP loopback, 10 Hz meter:`);
  console.log(`  p50 ${q(0.5)} us, p99 ${q(0.99)} us, max ${lat[lat.length - 1]} us (target p99 < 20000 us)`);
  console.log(`  energy flowing meanwhile at 350 kW: p99 ${(350000 * q(0.99) / 3.6e9).toFixed(3)} Wh`);
} finally {
  await stopAll();
  cleanup(dir);
}
