// ocpp-probe.mjs: runs tests/probe-ocpp_link (one ocpp_link on an lws loop)
// and reads its JSON event lines.  Started and stopped by PID through
// proc.mjs; commands go to its stdin.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { BUILD_ROOT, start } from './proc.mjs';

export const PROBE = path.join(BUILD_ROOT, 'tests', 'probe-ocpp_link');

// Starts the probe with the given flags; resolves once it printed
// {"event":"ready"}.  probe.events() is every event so far; waitEvent()
// resolves with the first event (past ones count unless `since` is given)
// matching pred.
export async function startProbe(args, { name = 'probe' } = {}) {
  const p = await start(PROBE, args, { ready: /^\{"event":"(ready|config_error)"/, name });
  const parse = () => p.lines().filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  p.events = parse;
  p.mark = () => parse().length;
  p.send = (line) => p.child.stdin.write(line + '\n');
  p.waitEvent = async (pred, { timeoutMs = 10000, since = 0, what = 'event' } = {}) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ev = parse().slice(since).find(pred);
      if (ev) return ev;
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        throw new Error(`probe exited while waiting for ${what}:\n${p.output()}`);
      if (Date.now() > end)
        throw new Error(`probe: no ${what} within ${timeoutMs} ms:\n${p.lines().slice(-25).join('\n')}`);
      // the next output, or a short tick (an exit is noticed above)
      await new Promise((r) => {
        const t = setTimeout(done, 25);
        function done() { clearTimeout(t); p.child.stdout.off('data', done); r(); }
        p.child.stdout.once('data', done);
      });
    }
  };
  // resolves with the first n events matching pred (after `since`)
  p.waitEvents = async (pred, n, opts = {}) => {
    await p.waitEvent(() => parse().slice(opts.since ?? 0).filter(pred).length >= n,
      { what: `${n} events`, ...opts });
    return parse().slice(opts.since ?? 0).filter(pred).slice(0, n);
  };
  // call(action, payload) -> the "result" event of that CALL
  p.call = async (action, payload = {}, opts = {}) => {
    const since = p.mark();
    p.send(`call ${action} ${JSON.stringify(payload)}`);
    const q = await p.waitEvent((e) => (e.event === 'queued' || e.event === 'call_refused') &&
      e.action === action, { since, what: `queued ${action}` });
    if (q.event === 'call_refused') return q;
    return p.waitEvent((e) => e.event === 'result' && e.id === q.id,
      { since, what: `result of ${action} ${q.id}`, ...opts });
  };
  return p;
}

// Runs the probe with settings it must refuse: it exits at once (code 3)
// after printing {"event":"config_error",...}.  Returns {status, events}.
export function runProbeRefused(args) {
  const r = spawnSync(PROBE, args, { input: '', encoding: 'utf8', timeout: 10000 });
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return { status: r.status, signal: r.signal, events, stderr: r.stderr };
}
