// proc.mjs: helpers for the integration tests: start a program, wait for a
// readiness line, talk to line-based Unix sockets, stop it by its PID.
// Every process started here is stopped by PID in stopAll() (call it from
// an `after` hook); nothing is ever killed by name.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const SOURCE_ROOT = process.env.WS_SOURCE_ROOT ??
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
export const BUILD_ROOT = process.env.WS_BUILD_ROOT ?? path.join(SOURCE_ROOT, 'build');
export const WATTSTREAMD = path.join(BUILD_ROOT, 'src', 'wattstreamd');
export const WATTSTREAM_SIM = path.join(BUILD_ROOT, 'sim', 'wattstream-sim');

const started = new Set();
// Lines of sanitizer reports (tests/run runs some suites on the
// address+undefined build): stopAll() fails the suite with them.
const SANITIZER = /ERROR: (Address|Leak)Sanitizer|runtime error: |SUMMARY: (Address|Leak|Undefined)/;
const sanitizerReports = [];

export function tempDir(prefix = 'ws-it-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Starts cmd; resolves once a line of its stdout or stderr matches `ready`
// (a RegExp), with {child, pid, match, output()}; rejects if it exits first
// or after timeoutMs.
export function start(cmd, args, { ready, timeoutMs = 15000, env, name } = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(child);
  const lines = [];
  const label = name ?? path.basename(cmd);
  let waiters = [];
  const onLine = (line) => {
    lines.push(line);
    if (SANITIZER.test(line)) sanitizerReports.push(`[${label}] ${line}`);
    if (process.env.WS_IT_VERBOSE) process.stderr.write(`[${label}] ${line}\n`);
    waiters = waiters.filter((w) => !w(line));
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
  }
  // 'close': exited and its output read to the end (a leak report comes last)
  const exited = new Promise((resolve) => child.on('close', (code, signal) => {
    started.delete(child);
    resolve({ code, signal });
  }));
  const proc = {
    child, pid: child.pid, exited, name: label,
    output: () => lines.join('\n'),
    lines: () => lines.slice(),
    // resolves with the first line (past or future) matching re
    waitLine(re, ms = 15000) {
      const old = lines.find((l) => re.test(l));
      if (old) return Promise.resolve(old.match(re));
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${label}: no line matching ${re} within ${ms} ms; output:\n${lines.slice(-30).join('\n')}`)), ms);
        waiters.push((l) => { const m = l.match(re); if (m) { clearTimeout(t); resolve(m); return true; } return false; });
      });
    },
    async stop(signal = 'SIGTERM', ms = 10000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
  if (!ready) return Promise.resolve(proc);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${label} not ready within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
    exited.then(({ code, signal }) => { clearTimeout(t); reject(new Error(`${label} exited (${code ?? signal}) before ready:\n${lines.join('\n')}`)); });
    proc.waitLine(ready, timeoutMs).then((m) => { clearTimeout(t); proc.match = m; resolve(proc); }, () => {});
  });
}

export async function stopAll() {
  await Promise.all([...started].map((c) => new Promise((resolve) => {
    c.once('close', resolve);
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 5000).unref();
  })));
  if (sanitizerReports.length) {
    const r = sanitizerReports.splice(0);
    throw new Error(`sanitizer reports:\n${r.join('\n')}`);
  }
}

// A line-protocol client on a Unix socket: cmd(line) resolves with the
// parsed JSON reply.
export async function lineClient(socketPath) {
  const sock = net.createConnection(socketPath);
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.setEncoding('utf8');
  let buf = '';
  const pending = [];
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      const p = pending.shift();
      if (p) p.resolve(JSON.parse(line));
    }
  });
  return {
    sock,
    cmd(line, ms = 5000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to '${line}'`)), ms);
        pending.push({ resolve: (v) => { clearTimeout(t); resolve(v); } });
        sock.write(line + '\n');
      });
    },
    close() { sock.destroy(); },
  };
}

// Polls fn() until it returns a truthy value; resolves with it.
export async function until(fn, { timeoutMs = 10000, everyMs = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function writeConfig(dir, text) {
  const p = path.join(dir, 'wattstreamd.conf');
  writeFileSync(p, text);
  return p;
}

export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}

// Starts the simulated charger on a free port with a control socket.
export async function startSim(dir, args = []) {
  const control = path.join(dir, 'sim.sock');
  const sim = await start(WATTSTREAM_SIM, ['--port', '0', '--control', control, ...args],
    { ready: /^READY port=(\d+)/, name: 'sim' });
  sim.port = Number(sim.match[1]);
  sim.ctl = await lineClient(control);
  return sim;
}

// Starts wattstreamd with the given config text; waits for "ready".
export async function startDaemon(dir, configText, { ready = /<5>ready: /, bin = WATTSTREAMD } = {}) {
  const conf = writeConfig(dir, configText);
  const d = await start(bin, ['-c', conf], { ready, name: 'wattstreamd' });
  d.conf = conf;
  d.ctl = await lineClient(path.join(dir, 'control.sock'));
  return d;
}
