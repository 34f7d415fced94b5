// notify.test.mjs: wattstreamd's systemd notifications (sd_notify) as
// systemd would receive them: READY=1 once the connectors' state is known,
// STATUS= on changes, WATCHDOG=1 at half the watchdog interval, STOPPING=1.
// A small python3 program stands in for systemd's notify socket (node has
// no AF_UNIX datagram sockets).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { WATTSTREAMD, cleanup, start, startSim, stopAll, tempDir, until, writeConfig } from './lib/proc.mjs';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    data = s.recv(4096).decode()
    for line in data.split("\\n"):
        if line:
            print("NOTIFY " + line, flush=True)
`;

let dir, sim, listener, d;
const notes = () => listener.lines().filter((l) => l.startsWith('NOTIFY ')).map((l) => l.slice(7));

before(async () => {
  dir = tempDir();
  sim = await startSim(dir);
  const sock = path.join(dir, 'notify.sock');
  listener = await start('python3', ['-c', LISTENER, sock], { ready: /^LISTENING/, name: 'notify' });
  const conf = writeConfig(dir, `[station]\nstate_dir = ${dir}/state\ncontrol_socket = ${dir}/control.sock\n` +
    `[bus.default]\nport = ${sim.port}\ntimeout_ms = 200\n[connector.1]\nmeter_poll_ms = 100\nmeter_failsafe_ms = 1000\n`);
  d = await start(WATTSTREAMD, ['-c', conf], {
    ready: /<5>ready: /, name: 'wattstreamd',
    env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '400000' },
  });
});
after(async () => {
  await stopAll();
  cleanup(dir);
});

test('READY=1 and STATUS= once the meter answered', async () => {
  await until(() => notes().includes('READY=1'), { what: 'READY=1' });
  assert.ok(notes().some((n) => n === 'STATUS=connector 1 ready'), notes().join('|'));
});

test('WATCHDOG=1 keeps coming while the worker is alive', async () => {
  const count = () => notes().filter((n) => n === 'WATCHDOG=1').length;
  const c0 = count();
  await until(() => count() >= c0 + 3, { what: 'three watchdog pings', timeoutMs: 5000 });
});

test('STATUS= follows a fault', async () => {
  await sim.ctl.cmd('freeze 1 on');
  await until(() => notes().includes('STATUS=connector 1 faulted'), { what: 'STATUS faulted', timeoutMs: 5000 });
  await sim.ctl.cmd('freeze 1 off');
  await until(() => notes().filter((n) => n === 'STATUS=connector 1 ready').length >= 2,
    { what: 'STATUS ready again', timeoutMs: 5000 });
});

test('STOPPING=1 on SIGTERM, exit 0', async () => {
  const r = await d.stop();
  assert.equal(r.code, 0);
  await until(() => notes().includes('STOPPING=1'), { what: 'STOPPING=1' });
});
