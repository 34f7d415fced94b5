// meter.test.mjs: the real wattstreamd against the real simulated charger
// over Modbus TCP on loopback: metering accuracy, contactor control,
// fail-safe on a silent or lying meter, fault history across restarts,
// configuration errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  WATTSTREAMD, cleanup, startDaemon, startSim, stopAll, tempDir, until, writeConfig,
} from './lib/proc.mjs';

const POLL_MS = 100;
const FAILSAFE_MS = 1000;

function config(dir, port, extra = '') {
  return `[station]
state_dir = ${dir}/state
control_socket = ${dir}/control.sock

[bus.default]
port = ${port}
timeout_ms = 200

[connector.1]
meter_poll_ms = ${POLL_MS}
meter_failsafe_ms = ${FAILSAFE_MS}
max_power_kw = 50
${extra}`;
}

const status = async (d) => (await d.ctl.cmd('status')).connectors[0];

describe('wattstreamd with the simulated charger', () => {
  let dir, sim, d;
  before(async () => {
    dir = tempDir();
    sim = await startSim(dir, ['--power-kw', '22']);
    d = await startDaemon(dir, config(dir, sim.port));
  });
  after(async () => {
    await stopAll();
    cleanup(dir);
  });

  test('starts with the contactor open and a good reading', async () => {
    const c = await status(d);
    assert.equal(c.state, 'ready');
    assert.equal(c.contactor, 'open');
    assert.equal(c.ev, 'unknown', 'no ev_sense configured');
    assert.equal((await sim.ctl.cmd('status 1')).coil, 0);
    assert.ok(c.reading.energy_wh > 1234000);
    assert.deepEqual(c.reading.voltage_v, [230, 230, 230]);
  });

  test('closing for a session delivers energy; opening stops it; energy matches within 1 Wh', async () => {
    const r = await d.ctl.cmd('close 1 session-1');
    assert.equal(r.ok, true, JSON.stringify(r));
    await until(async () => (await status(d)).state === 'energized', { what: 'energized' });
    assert.equal((await sim.ctl.cmd('status 1')).coil, 1);
    // let some energy flow
    await until(async () => (await sim.ctl.cmd('status 1')).true_energy_wh > 5, { what: 'energy' });
    assert.equal((await d.ctl.cmd('open 1')).ok, true);
    await until(async () => (await status(d)).state === 'ready', { what: 'ready' });
    const s1 = await sim.ctl.cmd('status 1');
    assert.equal(s1.coil, 0);
    // with the contactor open the sim's energy stands still
    await new Promise((res) => setTimeout(res, 3 * POLL_MS));
    const s2 = await sim.ctl.cmd('status 1');
    assert.equal(s2.true_energy_wh, s1.true_energy_wh);
    // the daemon's reading is the meter's: start value + true energy
    const c = await until(async () => {
      const st = await status(d);
      return st.reading.age_ms < POLL_MS * 3 && st;
    }, { what: 'fresh reading' });
    const expected = 1234500 + s2.true_energy_wh;
    assert.ok(Math.abs(c.reading.energy_wh - expected) <= 1,
      `daemon ${c.reading.energy_wh} Wh vs sim ${expected} Wh`);
  });

  test('bad readings are dropped, never used', async () => {
    const before_ = await status(d);
    await sim.ctl.cmd('corrupt 1 backwards');
    await until(async () => (await status(d)).readings_bad > before_.readings_bad, { what: 'dropped reading' });
    let c = await status(d);
    assert.ok(c.reading.energy_wh >= before_.reading.energy_wh, 'energy never goes backwards');
    await sim.ctl.cmd('corrupt 1 jump');
    await new Promise((res) => setTimeout(res, 3 * POLL_MS));
    c = await status(d);
    assert.ok(c.reading.energy_wh < before_.reading.energy_wh + 100, 'a jump is not taken');
    await sim.ctl.cmd('corrupt 1 nan');
    await new Promise((res) => setTimeout(res, 3 * POLL_MS));
    await sim.ctl.cmd('corrupt 1 off');
    await until(async () => (await status(d)).reading.age_ms < 2 * POLL_MS, { what: 'good readings again' });
    assert.equal((await status(d)).state, 'ready');
  });

  test('a lying meter (readings only jumps) fails safe like a silent one', async () => {
    assert.equal((await d.ctl.cmd('close 1 session-2')).ok, true);
    await until(async () => (await status(d)).state === 'energized', { what: 'energized' });
    await sim.ctl.cmd('corrupt 1 jump');
    await until(async () => (await status(d)).state === 'faulted', { what: 'faulted', timeoutMs: FAILSAFE_MS + 3000 });
    assert.equal((await sim.ctl.cmd('status 1')).coil, 0);
    await sim.ctl.cmd('corrupt 1 off');
    await until(async () => (await status(d)).state === 'ready', { what: 'recovered' });
  });

  test('a frozen meter opens the contactor within the fail-safe time', async () => {
    assert.equal((await d.ctl.cmd('close 1 session-3')).ok, true);
    await until(async () => (await status(d)).state === 'energized', { what: 'energized' });
    const t0 = Date.now();
    await sim.ctl.cmd('freeze 1 on');
    // the contactor shares the frozen unit: the daemon's open command
    // cannot be acknowledged, but the sim must see its coil open once
    // it is unfrozen; the daemon must say faulted within the fail-safe
    // the contactor on the same unit goes silent too, which may be noticed
    // first (a contactor fault); the meter fault must follow within the
    // fail-safe time
    const c = await until(async () => { const s = await status(d); return s.faults.includes('meter') && s; },
      { what: 'meter fault', timeoutMs: FAILSAFE_MS + 3000, everyMs: 20 });
    const elapsed = Date.now() - t0;
    assert.equal(c.state, 'faulted');
    assert.ok(elapsed < FAILSAFE_MS + 1500, `faulted after ${elapsed} ms`);
    assert.equal((await d.ctl.cmd('close 1 session-4')).ok, false, 'no session while faulted');
    await sim.ctl.cmd('freeze 1 off');
    // recovers by itself, contactor open, and never closes by itself
    await until(async () => (await status(d)).state === 'ready', { what: 'recovered' });
    const s = await sim.ctl.cmd('status 1');
    assert.equal(s.coil, 0);
    assert.equal((await status(d)).session, null);
  });

  test('the fault history records every fault and its recovery', async () => {
    const f = await d.ctl.cmd('faults 1');
    assert.equal(f.ok, true);
    assert.ok(f.faults.length >= 2, JSON.stringify(f));
    assert.ok(f.faults.every((x) => x.cleared_ms !== null), 'all faults cleared after recovery');
    assert.ok(f.faults.some((x) => x.kind === 'meter'));
  });

  test('restart keeps the fault history and starts with the contactor open', async () => {
    const beforeRestart = (await d.ctl.cmd('faults 1')).faults;
    d.ctl.close();
    const r = await d.stop();
    assert.equal(r.code, 0);
    assert.match(d.output(), /stopping: opening every contactor/);
    d = await startDaemon(dir, config(dir, sim.port));
    const after_ = (await d.ctl.cmd('faults 1')).faults;
    assert.deepEqual(after_.map((x) => x.id), beforeRestart.map((x) => x.id));
    assert.equal((await status(d)).contactor, 'open');
  });

  test('control socket rejects malformed commands and keeps serving', async () => {
    for (const [line, re] of [
      ['close 1', /session id/], ['close 0 x', /connector number/], ['close 1 a b', /too many/],
      ['reading x', /connector number/], ['launch', /unknown command/], ['faults 7', /connector number/],
      ['x'.repeat(5000), /line too long/],
    ]) {
      const r = await d.ctl.cmd(line);
      assert.equal(r.ok, false, line);
      assert.match(r.error, re, line);
    }
    assert.equal((await d.ctl.cmd('status')).ok, true);
  });
});

describe('meter and contactor on different Modbus units', () => {
  // connector 1 reads its meter on unit 1 and switches a contactor on
  // unit 2 (an I/O module beside the meter): a silent meter must open the
  // contactor, which here still answers
  let dir, sim, d;
  before(async () => {
    dir = tempDir();
    sim = await startSim(dir, ['--connectors', '2']);
    d = await startDaemon(dir, config(dir, sim.port, 'contactor_unit = 2\nev_sense = modbus\n'));
  });
  after(async () => {
    await stopAll();
    cleanup(dir);
  });

  test('the EV-present signal is read with the meter', async () => {
    assert.equal((await status(d)).ev, 'plugged');
    await sim.ctl.cmd('unplug 1');
    await until(async () => (await status(d)).ev === 'unplugged', { what: 'unplugged' });
    await sim.ctl.cmd('plug 1');
    await until(async () => (await status(d)).ev === 'plugged', { what: 'plugged' });
  });

  test('a frozen meter opens the contactor within the fail-safe time', async () => {
    assert.equal((await d.ctl.cmd('close 1 s1')).ok, true);
    await until(async () => (await sim.ctl.cmd('status 2')).coil === 1, { what: 'coil closed' });
    assert.equal((await sim.ctl.cmd('status 1')).coil, 0, 'the meter unit\'s own coil is untouched');
    const t0 = Date.now();
    await sim.ctl.cmd('freeze 1 on');
    await until(async () => (await sim.ctl.cmd('status 2')).coil === 0,
      { what: 'contactor opened', timeoutMs: FAILSAFE_MS + 3000, everyMs: 20 });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= FAILSAFE_MS - 2 * POLL_MS, `opened after only ${elapsed} ms`);
    assert.ok(elapsed < FAILSAFE_MS + 1500, `opened after ${elapsed} ms`);
    const c = await status(d);
    assert.equal(c.state, 'faulted');
    assert.equal(c.contactor, 'open');
    await sim.ctl.cmd('freeze 1 off');
    await until(async () => (await status(d)).state === 'ready', { what: 'recovered' });
    await new Promise((res) => setTimeout(res, 5 * POLL_MS));
    assert.equal((await sim.ctl.cmd('status 2')).coil, 0, 'never closes by itself');
  });
});

describe('a hub: three connectors on one bus', () => {
  let dir, sim, d;
  before(async () => {
    dir = tempDir();
    sim = await startSim(dir, ['--connectors', '3', '--power-kw', '11']);
    // connector 3 drives its contactor through the holding register 0x1000
    d = await startDaemon(dir, config(dir, sim.port) +
      '\n[connector.2]\nmeter_poll_ms = 100\n' +
      '\n[connector.3]\nmeter_poll_ms = 100\ncontactor_register = holding\ncontactor_address = 4096\n');
  });
  after(async () => {
    await stopAll();
    cleanup(dir);
  });

  test('each connector switches only its own contactor and meters only its own energy', async () => {
    const st = await d.ctl.cmd('status');
    assert.deepEqual(st.connectors.map((c) => c.state), ['ready', 'ready', 'ready']);
    assert.equal((await d.ctl.cmd('close 2 s2')).ok, true);
    assert.equal((await d.ctl.cmd('close 3 s3')).ok, true);
    await until(async () => (await d.ctl.cmd('status')).connectors.every((c, i) => c.state === (i ? 'energized' : 'ready')),
      { what: 'connectors 2 and 3 energized' });
    const coils = await Promise.all([1, 2, 3].map(async (u) => (await sim.ctl.cmd(`status ${u}`)).coil));
    assert.deepEqual(coils, [0, 1, 1]);
    await until(async () => (await sim.ctl.cmd('status 3')).true_energy_wh > 2, { what: 'energy on 3' });
    await d.ctl.cmd('open 2');
    await d.ctl.cmd('open 3');
    await until(async () => (await d.ctl.cmd('status')).connectors.every((c) => c.state === 'ready'), { what: 'all ready' });
    await new Promise((res) => setTimeout(res, 300));
    const all = (await d.ctl.cmd('status')).connectors;
    for (const u of [1, 2, 3]) {
      const s = await sim.ctl.cmd(`status ${u}`);
      assert.equal(s.coil, 0);
      assert.ok(Math.abs(all[u - 1].reading.energy_wh - (1234500 + s.true_energy_wh)) <= 1,
        `connector ${u}: ${all[u - 1].reading.energy_wh} vs ${1234500 + s.true_energy_wh}`);
    }
    assert.equal((await sim.ctl.cmd('status 1')).true_energy_wh, 0);
  });

  test('freezing one meter faults only its connector', async () => {
    await sim.ctl.cmd('freeze 2 on');
    await until(async () => (await d.ctl.cmd('status')).connectors[1].state === 'faulted',
      { what: 'connector 2 faulted', timeoutMs: FAILSAFE_MS + 3000 });
    const st = (await d.ctl.cmd('status')).connectors;
    assert.equal(st[0].state, 'ready');
    assert.equal(st[2].state, 'ready');
    await sim.ctl.cmd('freeze 2 off');
    await until(async () => (await d.ctl.cmd('status')).connectors[1].state === 'ready', { what: 'recovered' });
  });
});

describe('wattstreamd configuration errors', () => {
  const dir = tempDir();
  after(() => cleanup(dir));
  const check = (text) => {
    const conf = writeConfig(dir, text);
    return spawnSync(WATTSTREAMD, ['-c', conf, '--check-config'], { encoding: 'utf8' });
  };

  test('a valid file prints the effective configuration', () => {
    const r = check('[connector.1]\nmeter_unit = 3\n');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\[connector\.1\]\nmeter_bus = default\nmeter_unit = 3\n/);
  });

  test('every bad line is reported with its number and the daemon does not start', () => {
    const r = check('[connector.1]\nmeter_unit = 300\nbogus = 1\n[bus.default]\nport = x\n');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /wattstreamd\.conf:2: \[connector\.1\] meter_unit = '300': expected an integer from 0 to 247/);
    assert.match(r.stderr, /wattstreamd\.conf:3: \[connector\.1\] unknown key 'bogus'/);
    assert.match(r.stderr, /wattstreamd\.conf:5: \[bus\.default\] port = 'x'/);
    assert.match(r.stderr, /invalid configuration, 3 error\(s\)/);
    const run = spawnSync(WATTSTREAMD, ['-c', path.join(dir, 'wattstreamd.conf')], { encoding: 'utf8', timeout: 10000 });
    assert.equal(run.status, 1);
  });

  test('a missing explicit file is an error; --help and --version work', () => {
    const r = spawnSync(WATTSTREAMD, ['-c', path.join(dir, 'nope.conf')], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read configuration .*nope\.conf.*No such file/);
    assert.match(spawnSync(WATTSTREAMD, ['--version'], { encoding: 'utf8' }).stdout, /^wattstreamd \d+\.\d+\.\d+/);
    assert.match(spawnSync(WATTSTREAMD, ['--help'], { encoding: 'utf8' }).stdout, /--check-config/);
    assert.equal(spawnSync(WATTSTREAMD, ['--bogus'], { encoding: 'utf8' }).status, 2);
  });

  test('an unusable store is a clear error', () => {
    const conf = writeConfig(dir, `[station]\nstate_dir = /proc/ws-no-such\ncontrol_socket = ${dir}/c.sock\n`);
    const r = spawnSync(WATTSTREAMD, ['-c', conf], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Failed to create state directory '\/proc\/ws-no-such'/);
  });
});
