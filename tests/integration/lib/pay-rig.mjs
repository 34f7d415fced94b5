// pay-rig.mjs: the pieces of a paid-charging rig on loopback, shared by
// payment_chain.test.mjs and the payment benchmarks (tests/bench/overrun.mjs,
// tests/bench/voucher_cpu.mjs): anvil that can be stopped and started again
// on the same port with its state (--state FILE), the contracts deployed,
// wattstreamd's [payment] config, wattstream-wallet runs, a raw protocol
// client for what the C wallet cannot be made to send, ethers helpers and
// a process's CPU time.  Every process is started through proc.mjs (or
// anvil.mjs) and stopped by its PID.
// Cost: anvil ~30 MB, each wallet a few MB; no polling beyond what callers ask.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { BUILD_ROOT, SOURCE_ROOT, start } from './proc.mjs';

export const WALLET = path.join(BUILD_ROOT, 'sim', 'wattstream-wallet');
const CONTRACTS = path.join(SOURCE_ROOT, 'contracts');
const require = createRequire(path.join(CONTRACTS, 'package.json'));
export const ethers = require('ethers');
const WebSocket = createRequire(path.join(SOURCE_ROOT, 'sim', 'package.json'))('ws');
const anvilLib = await import(path.join(CONTRACTS, 'lib', 'anvil.mjs'));
export const { DEV_KEYS, rpc } = anvilLib;

const MNEMONIC = 'test test test test test test test test test test test junk';

/** Private key of anvil's dev account i (its default mnemonic). */
export function devKey(i) {
  return ethers.HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey;
}

/**
 * Starts anvil on 127.0.0.1 (port 0: any free one) keeping its state in
 * stateFile: loaded at start if the file exists, written when it stops
 * (SIGTERM).  Returns anvil.mjs' handle ({url, port, pid, stop, log}).
 */
export async function startChain({ port = 0, stateFile, accounts = 10 } = {}) {
  const args = ['--accounts', String(accounts)];
  if (stateFile) args.push('--state', stateFile);
  return anvilLib.startAnvil({ port, args });
}

/** Compiles the contracts if needed and deploys them; {dep, depFile}. */
export async function deployAll(chain, dir) {
  if (!fs.existsSync(path.join(CONTRACTS, 'build', 'WattstreamChannels.json'))) {
    const r = spawnSync(process.execPath, ['scripts/compile.mjs'], { cwd: CONTRACTS, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('contracts did not compile');
  }
  const { deploy } = await import(path.join(CONTRACTS, 'scripts', 'deploy.mjs'));
  const depFile = path.join(dir, 'deployment.json');
  const dep = await deploy({ rpcUrl: chain.url, challengePeriod: 3600, out: depFile });
  return { dep, depFile };
}

/** An ethers provider that never probes the network on its own (the chain may be down). */
export function provider(url) {
  return new ethers.JsonRpcProvider(url, ethers.Network.from(31337),
    { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
}

/** The payee key file (a funded dev account pays the claims' gas); returns its address. */
export function writePayeeKey(dir, key = DEV_KEYS[2]) {
  fs.mkdirSync(path.join(dir, 'state'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'state', 'payee.key'), key + '\n', { mode: 0o600 });
  return new ethers.Wallet(key).address;
}

/**
 * wattstreamd's config text for a paid station on the sim: one
 * [connector.N] per connector, 10 Hz meter unless told.
 */
export function payConfig({ dir, chainUrl, depFile, simPort, walletPort, connectors = 1,
  price = 300000n, incrementWh = 100, prepaid = 1, graceS = 3, minDeposit = 100000,
  watchS = 1, claimThreshold = 0, pollMs = 100, failsafeMs = 1000, extra = '',
  logLevel = process.env.WS_IT_DEBUG ? 'debug' : 'info' }) {
  let t = `[station]
state_dir = ${dir}/state
control_socket = ${dir}/control.sock
log_level = ${logLevel}
[payment]
enabled = true
rpc_url = ${chainUrl}
deployment = ${depFile}
port = ${walletPort}
price_per_kwh = ${price}
increment_wh = ${incrementWh}
prepaid_increments = ${prepaid}
grace_s = ${graceS}
min_deposit = ${minDeposit}
watch_interval_s = ${watchS}
claim_threshold = ${claimThreshold}
${extra}[bus.default]
port = ${simPort}
`;
  for (let i = 1; i <= connectors; i++)
    t += `[connector.${i}]\nmeter_poll_ms = ${pollMs}\nmeter_failsafe_ms = ${failsafeMs}\nev_sense = modbus\n`;
  return t;
}

/** A port for the wallet endpoint (the daemon cannot be told "any free port"). */
export function walletPort() {
  return 20000 + Math.floor(Math.random() * 20000);
}

/**
 * Runs wattstream-wallet with `args` (tracked by proc.mjs: stopAll stops it
 * by PID).  Returns the proc handle plus done: a promise of
 * {code, signal, bill, stderr}; bill is the JSON line it printed last.
 * SIGTERM makes the wallet send `stop` and wait for `ended`.
 */
export async function runWallet({ chainUrl, depFile, key = DEV_KEYS[1], station, args = [], name = 'wallet' }) {
  const p = await start(WALLET, ['--rpc', chainUrl, '--deployment', depFile, '--key-env', 'WS_TEST_DRIVER_KEY',
    '--station', station, ...args], { env: { WS_TEST_DRIVER_KEY: key }, name });
  p.done = p.exited.then(({ code, signal }) => {
    const lines = p.lines();
    let bill = null;
    for (let i = lines.length - 1; i >= 0 && !bill; i--)
      if (lines[i].startsWith('{')) try { bill = JSON.parse(lines[i]); } catch { /* not it */ }
    return { code, signal, bill, stderr: lines.filter((l) => !l.startsWith('{')).join('\n') };
  });
  p.count = (re) => p.lines().filter((l) => re.test(l)).length;
  return p;
}

/**
 * A raw wallet-protocol client (wattstream.wallet.1) on the `ws` package:
 * send(obj), next(pred, ms) resolves with the first message (seen or to
 * come) matching pred, close().  For messages the C wallet cannot be made
 * to send (e.g. a start while the chain it checks first is down).
 */
export async function rawWallet(url) {
  const ws = new WebSocket(url, 'wattstream.wallet.1');
  const msgs = [];
  let waiters = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    msgs.push(m);
    waiters = waiters.filter((w) => !w(m));
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return {
    msgs,
    send: (o) => ws.send(JSON.stringify(o)),
    next(pred, ms = 10000) {
      const old = msgs.find(pred);
      if (old) return Promise.resolve(old);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching wallet message within ${ms} ms; got ${JSON.stringify(msgs)}`)), ms);
        waiters.push((m) => { if (pred(m)) { clearTimeout(t); resolve(m); return true; } return false; });
      });
    },
    close: () => new Promise((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once('close', resolve);
      ws.close();
      setTimeout(() => { ws.terminate(); }, 2000).unref();
    }),
  };
}

/**
 * Opens a channel from `key` to `payee` on-chain with ethers (mint, approve,
 * open; no session key): for a start that must reach the station without
 * the C wallet.  Returns the channel id.
 */
export async function openChannel(url, dep, key, payee, deposit) {
  const p = provider(url);
  try {
    const signer = new ethers.NonceManager(new ethers.Wallet(key, p));
    const token = new ethers.Contract(dep.contracts.token.address, dep.contracts.token.abi, signer);
    const channels = new ethers.Contract(dep.contracts.channels.address, dep.contracts.channels.abi, signer);
    const me = await signer.getAddress();
    await (await token.mint(me, deposit)).wait();
    await (await token.approve(dep.contracts.channels.address, deposit)).wait();
    const rc = await (await channels.open(payee, dep.contracts.token.address, ethers.ZeroAddress, deposit)).wait();
    for (const log of rc.logs) {
      let ev = null;
      try { ev = channels.interface.parseLog(log); } catch { /* another contract's */ }
      if (ev?.name === 'ChannelOpened') return ev.args.channelId;
    }
    throw new Error('no ChannelOpened event');
  } finally {
    p.destroy();
  }
}

/**
 * CPU time of a process and all its threads: {ticksUs} from utime+stime in
 * /proc/PID/stat (clock ticks, 10 ms steps at USER_HZ 100) and {schedNs}
 * summed over /proc/PID/task/* /schedstat (ns; null where unavailable).
 */
let hz;
export function cpuTime(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);	/* fields 14, 15: utime, stime */
  hz ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  let schedNs = 0;
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`))
      schedNs += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  } catch { schedNs = null; }
  return { ticksUs: ticks * 1e6 / hz, schedNs, wallUs: Number(process.hrtime.bigint() / 1000n) };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
