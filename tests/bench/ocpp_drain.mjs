// ocpp_drain.mjs: how fast wattstreamd empties its durable transaction
// queue into the test CSMS on loopback after a long outage, and whether
// every message arrives once and in order.
//
// The outage: a transaction runs (MeterValueSampleInterval = 1 s, energy,
// power, 3 currents, 3 voltages: 8 sampled values), the CSMS goes away, the
// daemon queues a few MeterValues itself, then it is killed (-9) and its
// store gets N more MeterValues of one minute each: copies of the last row
// the daemon wrote, with their own timestamp and energy register (30 days
// of per-minute values = 43,200).  The daemon restarts with the CSMS still
// away, ends the transaction (PowerLoss) behind the queued values; then the
// CSMS comes back and the figures are taken from the CSMS's side: from the
// first queued message received to the StopTransaction answered.
// Prints N, seconds, messages/s, the daemon's CPU per message, its VmHWM,
// and the delivery check.  Judges speed never; exits 1 only when the
// benchmark could not run or the delivery check failed (a lost, doubled or
// reordered message is a bug, not a figure).
//
// Cost: the store is written where $WS_BENCH_DIR says (default: the build
// folder, on the disk that holds the build, not tmpfs) and removed at the
// end; about 1 KiB per message in the store and twice that in the CSMS's
// memory.  Needs the sqlite3 CLI (a dependency of tests/run).
//
// usage: node tests/bench/ocpp_drain.mjs [N]    (default 43200, or WS_BENCH_MESSAGES)
//   WS_BENCH_DAEMON: another wattstreamd binary (before/after comparisons)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { startCsms } from '../../sim/csms/csms.mjs';
import { BUILD_ROOT, WATTSTREAMD, cleanup, startDaemon, startSim, stopAll, tempDir, until } from '../integration/lib/proc.mjs';
import { ocppConfig } from '../integration/lib/ocpp-rig.mjs';

const N = Number(process.argv[2] ?? process.env.WS_BENCH_MESSAGES ?? 43200);
const DAEMON = process.env.WS_BENCH_DAEMON ?? WATTSTREAMD;
const ID = 'CP-drain-1';
const WH_PER_MINUTE = 22000 / 60;   // 22 kW for the synthetic minutes

if (!Number.isInteger(N) || N < 1) {
  console.error(`ocpp_drain: N must be a whole number >= 1, got '${process.argv[2] ?? process.env.WS_BENCH_MESSAGES}'`);
  process.exit(2);
}

function sqlite(db, sql) {
  const r = spawnSync('sqlite3', ['-bail', '-batch', db], { input: sql, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error)
    throw new Error(`sqlite3: ${r.error.message} (the sqlite3 CLI is needed)`);
  if (r.status !== 0)
    throw new Error(`sqlite3 failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

function sqlText(s) {
  return `'${s.replace(/'/g, "''")}'`;
}

// user + system CPU seconds of a process
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;   // utime, stime in USER_HZ = 100
}

function vm(pid, key) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s*(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : NaN;
}

const dir = tempDir('ws-bench-drain-');
const benchBase = process.env.WS_BENCH_DIR ?? BUILD_ROOT;
let state, csms, ok = false;
try {
  state = fs.mkdtempSync(path.join(benchBase, 'bench-ocpp_drain-'));
  const db = path.join(state, 'wattstream.db');
  csms = await startCsms({ port: 0, heartbeatInterval: 300, log: false });
  const sim = await startSim(dir, ['--power-kw', '22']);
  let d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID, state }), { bin: DAEMON });
  await csms.waitFor('StatusNotification', (r) => r.params.connectorId === 1, 15000);
  for (const [key, value] of [['MeterValueSampleInterval', '1'],
    ['MeterValuesSampledData', 'Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage']]) {
    const r = await csms.call(ID, 'ChangeConfiguration', { key, value });
    if (r.status !== 'Accepted')
      throw new Error(`ChangeConfiguration ${key}: ${r.status}`);
  }
  let m = csms.mark();
  const r0 = await d.ctl.cmd('start 1 TAG-DRAIN');
  if (!r0.ok)
    throw new Error(`start: ${JSON.stringify(r0)}`);
  const st = await csms.waitFor('StartTransaction', null, 10000, { since: m, replied: true });
  const txId = st.response.result.transactionId;
  await csms.waitFor('MeterValues', null, 5000, { since: m });

  // the outage: the daemon queues MeterValues itself, then dies
  await csms.goAway(3600 * 1000);
  await until(async () => (await d.ctl.cmd('status')).ocpp !== 'accepted', { what: 'offline' });
  await new Promise((res) => setTimeout(res, 3500));
  d.ctl.close();
  await d.stop('SIGKILL');
  const own = sqlite(db, "SELECT json_extract(payload, '$.meterValue[0].timestamp') FROM ocpp_queue " +
    "WHERE action = 'MeterValues' ORDER BY seq;").split('\n').filter((s) => s);
  if (own.length < 2)
    throw new Error(`the daemon queued ${own.length} MeterValues offline, expected >= 2`);
  const last = sqlite(db, "SELECT local_tx, created_ms, payload FROM ocpp_queue WHERE action = 'MeterValues' " +
    'ORDER BY seq DESC LIMIT 1;').split('|');
  const [localTx, created] = [Number(last[0]), Number(last[1])];
  const template = last.slice(2).join('|');
  const t = JSON.parse(template);
  const mv0 = t.meterValue[0];
  const ei = mv0.sampledValue.findIndex((s) => s.measurand === 'Energy.Active.Import.Register');
  if (ei < 0 || mv0.sampledValue.length !== 8)
    throw new Error(`unexpected MeterValues from the daemon: ${template}`);
  const t0 = Date.parse(mv0.timestamp) / 1000 + 60, e0 = Number(mv0.sampledValue[ei].value);
  sqlite(db, `BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${N})
INSERT INTO ocpp_queue(action, connector, local_tx, keep, payload, created_ms)
SELECT 'MeterValues', 1, ${localTx}, 0,
  json_set(${sqlText(template)},
    '$.meterValue[0].timestamp', strftime('%Y-%m-%dT%H:%M:%fZ', ${t0} + i * 60, 'unixepoch'),
    '$.meterValue[0].sampledValue[${ei}].value', CAST(${e0} + CAST(i * ${WH_PER_MINUTE} AS INTEGER) AS TEXT)),
  ${created} + (i + 1) * 60000
FROM n;
COMMIT;`);
  const expected = [...own];
  for (let i = 0; i < N; i++)
    expected.push(new Date((t0 + i * 60) * 1000).toISOString());
  const payloadBytes = Number(sqlite(db, "SELECT total(length(payload)) FROM ocpp_queue WHERE action = 'MeterValues';"));

  // restart, still offline: the transaction ends (PowerLoss) behind the queue
  d = await startDaemon(dir, ocppConfig(dir, csms, sim, { identity: ID, state }), { bin: DAEMON });
  await until(async () => !(await d.ctl.cmd('status')).connectors[0].transaction, { what: 'transaction ended', timeoutMs: 30000 });
  const queued = Number(sqlite(db, 'SELECT count(*) FROM ocpp_queue;'));
  if (queued !== expected.length + 1)
    throw new Error(`${queued} messages queued, expected ${expected.length} MeterValues + 1 StopTransaction`);

  // the CSMS comes back: time everything from here on the CSMS's side
  const times = { first: null, stop: null };
  const got = [];
  let others = 0;
  csms.on('record', (rec) => {
    if (rec.kind !== 'frame')
      return;
    if (rec.direction === 'in' && rec.type === 'CALL' && rec.action === 'MeterValues') {
      times.first ??= performance.now();
      if (rec.params.transactionId === txId)
        got.push(rec.params.meterValue[0].timestamp);
      else
        others++;
    } else if (rec.direction === 'out' && rec.action === 'StopTransaction' && rec.type === 'CALLRESULT') {
      times.stop = performance.now();
    }
  });
  m = csms.mark();
  const cpu0 = cpuSeconds(d.pid);
  const back = performance.now();
  await csms.goAway(1);
  await csms.waitFor('BootNotification', null, 60000, { since: m, replied: true });
  const booted = performance.now();
  const stop = await csms.waitFor('StopTransaction', null, Math.max(600000, N * 20), { since: m, replied: true });
  const cpu = cpuSeconds(d.pid) - cpu0;
  const hwm = vm(d.pid, 'VmHWM'), rss = vm(d.pid, 'VmRSS');
  await until(() => sqlite(db, 'SELECT count(*) FROM ocpp_queue;') === '0', { what: 'queue empty', timeoutMs: 5000 });

  // the check: each MeterValues once, in order, then the StopTransaction
  let dup = 0, missing = 0, order = 0;
  const seen = new Map();
  for (const ts of got)
    seen.set(ts, (seen.get(ts) ?? 0) + 1);
  for (const [, c] of seen)
    dup += c - 1;
  for (const ts of expected)
    if (!seen.has(ts))
      missing++;
  for (let i = 1; i < got.length; i++)
    if (got[i] <= got[i - 1])
      order++;
  const exact = got.length === expected.length && got.every((ts, i) => ts === expected[i]);
  const stopOk = stop.params.transactionId === txId && stop.params.reason === 'PowerLoss' &&
    csms.received('StopTransaction', { since: m }).length === 1;
  const mvAfterStop = csms.received('MeterValues', { since: stop.seq }).length;

  const n = got.length + 1;   // + the StopTransaction
  const s = (times.stop - times.first) / 1000;
  console.log(`OCPP queue drain after an outage, test CSMS on loopback, one CALL in flight (${DAEMON}, store in ${benchBase}):`);
  console.log(`  queued: ${expected.length} MeterValues (${own.length} written by the daemon offline + ${N} ` +
    `per-minute copies, ${(payloadBytes / 1048576).toFixed(1)} MiB payload) + 1 StopTransaction`);
  console.log(`  reconnect: BootNotification answered ${((booted - back) / 1000).toFixed(2)} s after the CSMS came back`);
  console.log(`  drain: ${n} messages in ${s.toFixed(2)} s = ${(n / s).toFixed(0)} messages/s ` +
    `(${(1000 * s / n).toFixed(2)} ms each: 2 durable commits + round trip + the CSMS's schema check)`);
  console.log(`  daemon: ${(1000 * cpu / n).toFixed(3)} ms CPU per message, VmRSS ${(rss / 1024).toFixed(2)} MiB, ` +
    `VmHWM ${(hwm / 1024).toFixed(2)} MiB at the end`);
  console.log(`  delivery: ${exact && stopOk && others === 0 && mvAfterStop === 0 ? 'every message once and in order' : 'FAILED'}` +
    ` (received ${got.length}/${expected.length} MeterValues, ${dup} doubled, ${missing} missing, ` +
    `${order} out of order, ${others} with another transactionId, ${mvAfterStop} after the stop; ` +
    `StopTransaction ${stopOk ? 'PowerLoss, last, once' : `WRONG: ${JSON.stringify(stop.params)}`}; ` +
    `${csms.validationFailures.length} schema failures)`);
  ok = exact && stopOk && others === 0 && mvAfterStop === 0 && csms.validationFailures.length === 0;
} catch (err) {
  console.error(`ocpp_drain: ${err.stack ?? err}`);
} finally {
  await stopAll();
  if (csms)
    await csms.stop();
  cleanup(dir);
  if (state)
    cleanup(state);
}
process.exitCode = ok ? 0 : 1;
