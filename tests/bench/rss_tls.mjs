// rss_tls.mjs: wattstreamd's memory connected to the test CSMS over TLS
// (security profile 2: wss, server certificate checked against a throwaway
// CA, Basic auth), one connector metering over Modbus TCP loopback, idle for
// WS_BENCH_IDLE_S seconds (default 30); and the same daemon without OCPP,
// run at the same time, for the ratio.  Prints VmRSS, VmHWM, RssAnon,
// RssFile, RssShmem (/proc/PID/status), Pss, and the largest mappings
// (/proc/PID/smaps grouped by file, [heap], [stack], anonymous).
// Judges nothing: figures only.  Cost: two sims, two daemons, one test CSMS
// for the idle time; certificates made with the openssl CLI.
//
// usage: node tests/bench/rss_tls.mjs [wattstreamd ...]
//   With several binaries (e.g. builds before and after a change), each is
//   measured the same way in the same run.  Default: $WS_BUILD_ROOT/src/wattstreamd.
//   WS_BENCH_TOP: how many mappings to list (default 12).
import fs from 'node:fs';
import path from 'node:path';

import { startCsms } from '../../sim/csms/csms.mjs';
import { makePki } from '../integration/lib/ocpp-certs.mjs';
import { WATTSTREAMD, cleanup, lineClient, start, startSim, stopAll, tempDir, until, writeConfig } from '../integration/lib/proc.mjs';

const IDLE_S = Number(process.env.WS_BENCH_IDLE_S ?? 30);
const TOP = Number(process.env.WS_BENCH_TOP ?? 12);
const KEY = '00112233445566778899aabbccddeeff';
const daemons = process.argv.length > 2 ? process.argv.slice(2) : [WATTSTREAMD];

function kb(s) {
  return Number(String(s).trim().split(/\s+/)[0]);
}

function mib(k) {
  return `${(k / 1024).toFixed(2)} MiB`;
}

function statusOf(pid) {
  const o = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = line.match(/^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem|Threads):\s*(.*)$/);
    if (m)
      o[m[1]] = m[1] === 'Threads' ? Number(m[2]) : kb(m[2]);
  }
  const roll = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  o.Pss = kb(roll.match(/^Pss:\s*(.*)$/m)[1]);
  return o;
}

// Rss, Pss and Anonymous summed per mapping name: a library's text, data
// and relro are one entry; unnamed mappings are "[anon]" (thread stacks,
// malloc arenas, mmap'ed buffers).
function smapsByName(pid) {
  const by = new Map();
  let cur = null;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      const name = head[1] ? path.basename(head[1].replace(/ \(deleted\)$/, '')).replace(/^(\[stack):.*\]$/, '$1]') : '[anon]';
      if (!by.has(name))
        by.set(name, { name, rss: 0, pss: 0, anon: 0, maps: 0 });
      cur = by.get(name);
      cur.maps++;
      continue;
    }
    const f = line.match(/^(Rss|Pss|Anonymous):\s*(\d+) kB/);
    if (f && cur)
      cur[f[1] === 'Rss' ? 'rss' : f[1] === 'Pss' ? 'pss' : 'anon'] += Number(f[2]);
  }
  return [...by.values()].sort((a, b) => b.rss - a.rss);
}

function config(dir, { ocpp, sim, pki, csms }) {
  let s = `[station]\nstate_dir = ${dir}/state\ncontrol_socket = ${dir}/control.sock\n`;
  if (ocpp)
    s += `[ocpp]\nurl = ${csms.url.replace('//127.0.0.1', '//localhost')}\nidentity = ${ocpp}\n` +
      `security_profile = 2\nauthorization_key = ${KEY}\nca_file = ${pki.file('ca.pem')}\n`;
  s += `[bus.default]\nport = ${sim.port}\n[connector.1]\nmeter_poll_ms = 200\n`;
  return s;
}

async function startOne(base, name, bin, opts) {
  const dir = path.join(base, name);
  fs.mkdirSync(dir);
  const sim = await startSim(dir, ['--power-kw', '11']);
  const d = await start(bin, ['-c', writeConfig(dir, config(dir, { ...opts, sim }))],
    { ready: /<5>ready: /, name });
  d.ctl = await lineClient(path.join(dir, 'control.sock'));
  return d;
}

function report(label, pid) {
  const s = statusOf(pid);
  console.log(`  ${label.padEnd(26)} VmRSS ${s.VmRSS} kB (${mib(s.VmRSS)})  VmHWM ${s.VmHWM} kB  ` +
    `RssAnon ${s.RssAnon} kB  RssFile ${s.RssFile} kB  RssShmem ${s.RssShmem} kB  ` +
    `Pss ${s.Pss} kB  threads ${s.Threads}`);
  return s;
}

function top(label, pid) {
  console.log(`  largest mappings of ${label} (kB; file = the library's text, data and relro together):`);
  console.log(`    ${'mapping'.padEnd(28)} ${'Rss'.padStart(6)} ${'Pss'.padStart(6)} ${'Anon'.padStart(6)}  maps`);
  const rows = smapsByName(pid);
  for (const r of rows.slice(0, TOP))
    console.log(`    ${r.name.padEnd(28)} ${String(r.rss).padStart(6)} ${String(r.pss).padStart(6)} ${String(r.anon).padStart(6)}  ${r.maps}`);
  const rest = rows.slice(TOP).reduce((a, r) => a + r.rss, 0);
  console.log(`    ${`(${rows.length - Math.min(TOP, rows.length)} others)`.padEnd(28)} ${String(rest).padStart(6)}`);
}

const base = tempDir('ws-bench-rss-');
let csms;
let failed = false;
try {
  const pki = makePki(base);
  csms = await startCsms({
    port: 0, heartbeatInterval: 300, log: false,
    basicAuth: Object.fromEntries(daemons.map((_, i) => [`CP-rss-${i}`, KEY])),
    tls: { key: pki.read('server.key'), cert: pki.read('server.pem') },
  });
  const runs = [];
  for (let i = 0; i < daemons.length; i++) {
    const tls = await startOne(base, `tls-${i}`, daemons[i], { ocpp: `CP-rss-${i}`, pki, csms });
    const plain = await startOne(base, `plain-${i}`, daemons[i], {});
    runs.push({ bin: daemons[i], tls, plain, id: `CP-rss-${i}` });
  }
  for (const r of runs) {
    const conn = await csms.waitConnected(r.id, { timeoutMs: 15000 });
    if (conn.auth !== 'tls+basic')
      throw new Error(`${r.id} connected with auth ${conn.auth}, not tls+basic`);
    await until(async () => (await r.tls.ctl.cmd('status')).ocpp === 'accepted', { what: `${r.id} accepted` });
  }
  await until(async () => {
    for (const r of runs)
      for (const d of [r.tls, r.plain])
        if (!(await d.ctl.cmd('status')).connectors[0].reading)
          return false;
    return true;
  }, { what: 'a meter reading in every daemon' });
  await new Promise((res) => setTimeout(res, IDLE_S * 1000));
  for (const r of runs) {
    if (!csms.isConnected(r.id))
      throw new Error(`${r.id} is not connected any more after the idle time`);
    console.log(`wattstreamd RSS after ${IDLE_S} s idle, 1 connector metering at 5 Hz (${r.bin}):`);
    const t = report('OCPP over TLS (profile 2)', r.tls.pid);
    const p = report('without OCPP', r.plain.pid);
    console.log(`  ratio with/without OCPP+TLS: VmRSS ${(t.VmRSS / p.VmRSS).toFixed(2)}, ` +
      `RssAnon ${(t.RssAnon / p.RssAnon).toFixed(2)}; OCPP+TLS adds ${t.VmRSS - p.VmRSS} kB ` +
      `(anon ${t.RssAnon - p.RssAnon} kB, file ${t.RssFile - p.RssFile} kB); ` +
      `design target: VmRSS under 8 MB (7812 kB) with OCPP over TLS`);
    top('OCPP over TLS', r.tls.pid);
  }
} catch (err) {
  failed = true;
  console.error(`rss_tls: ${err.stack ?? err}`);
} finally {
  await stopAll();
  if (csms)
    await csms.stop();
  cleanup(base);
}
process.exitCode = failed ? 1 : 0;
