// Self-test of the CLI: READY line, one stdout line per frame, a JSON-lines
// log file, clean exit on SIGTERM, exit 2 on a bad argument.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { RPCClient, tempDir, BOOT } from './helpers.mjs';

const CLI = new URL('../csms.mjs', import.meta.url).pathname;

// Collects stdout lines; waitLine(re) resolves with the first matching line.
function lines(stream) {
  const seen = [];
  const waiters = [];
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      seen.push(line);
      for (const w of [...waiters])
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    }
  });
  return {
    seen,
    waitLine(re, ms = 10000) {
      const hit = seen.find((l) => re.test(l));
      if (hit)
        return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { re, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; got:\n${seen.join('\n')}`)), ms).unref();
      });
    },
  };
}

test('CLI: READY port=N, a line per frame, log file, clean exit on SIGTERM', async () => {
  const dir = tempDir('cli');
  const logFile = `${dir}/csms.jsonl`;
  const child = spawn(process.execPath, [CLI, '--port', '0', '--host', '127.0.0.1', '--path', '/ws',
    '--heartbeat', '77', '--log-file', logFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const out = lines(child.stdout);
  const exited = once(child, 'exit');
  let cp;
  try {
    const ready = await out.waitLine(/^READY port=\d+$/);
    const port = Number(ready.split('=')[1]);
    assert.ok(port > 0);
    cp = new RPCClient({ endpoint: `ws://127.0.0.1:${port}/ws`, identity: 'CP-CLI', protocols: ['ocpp1.6'],
      strictMode: true, reconnect: false });
    await cp.connect();
    const boot = await cp.call('BootNotification', BOOT);
    assert.equal(boot.interval, 77);
    await out.waitLine(/^<- CP-CLI CALL BootNotification \{"chargePointVendor":"wattstream"/);
    await out.waitLine(/^-> CP-CLI CALLRESULT BootNotification \{"status":"Accepted"/);
    await cp.close();
    await out.waitLine(/^disconnect CP-CLI/);
    child.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0, stderr);
    const recs = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const call = recs.find((r) => r.type === 'CALL' && r.action === 'BootNotification');
    assert.equal(call.identity, 'CP-CLI');
    assert.deepEqual(JSON.parse(call.raw)[3], BOOT);
    assert.ok(recs.some((r) => r.kind === 'connect') && recs.some((r) => r.kind === 'disconnect'));
  } finally {
    await cp?.close({ force: true });
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: a bad argument exits 2 with usage', async () => {
  const child = spawn(process.execPath, [CLI, '--port', 'nine'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.resume();
  const [code] = await once(child, 'exit');
  assert.equal(code, 2);
  assert.match(stderr, /needs a whole number/);
  assert.match(stderr, /usage:/);
});
