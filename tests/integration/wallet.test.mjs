// wallet.test.mjs: wattstream-wallet (sim/wallet.c) against a mock station
// (lib/mock-station.mjs, written from docs/wallet-protocol.md) and a real
// anvil with the contracts deployed.  Covers the normal paid session,
// channel reuse with the session key from a file, stop by SIGINT and by
// stdin, refusal of forged / tampered / unpublished offers, detection of
// bad receipts and overcharging invoices, a station without the
// subprotocol, and what each misbehaviour flag puts on the wire.
// Every process started here is stopped by its PID.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeOffer, priceOf, startMockStation, VOUCHER_TYPES } from './lib/mock-station.mjs';
import { makePki } from './lib/ocpp-certs.mjs';

const SOURCE_ROOT = process.env.WS_SOURCE_ROOT ??
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const BUILD_ROOT = process.env.WS_BUILD_ROOT ?? path.join(SOURCE_ROOT, 'build');
const WALLET = path.join(BUILD_ROOT, 'sim', 'wattstream-wallet');
const CONTRACTS = path.join(SOURCE_ROOT, 'contracts');

const require = createRequire(path.join(CONTRACTS, 'package.json'));
const { Contract, JsonRpcProvider, NonceManager, TypedDataEncoder, Wallet, getAddress, keccak256, toUtf8Bytes, recoverAddress } =
  require('ethers');
const { startAnvil, DEV_KEYS } = await import(path.join(CONTRACTS, 'lib', 'anvil.mjs'));

if (!fs.existsSync(path.join(CONTRACTS, 'build', 'WattstreamChannels.json'))) {
  const r = spawnSync(process.execPath, ['scripts/compile.mjs'], { cwd: CONTRACTS, stdio: 'inherit' });
  assert.equal(r.status, 0, 'contracts compile');
}
const { deploy } = await import(path.join(CONTRACTS, 'scripts', 'deploy.mjs'));

const PRICE = 300000n;          // base units per kWh
const INC_WH = 100;
const INC_MWH = INC_WH * 1000;
const STATION_KEY = keccak256(toUtf8Bytes('wallet test station key'));
const DRIVER_KEY = DEV_KEYS[1];
const PAYEE = new Wallet(DEV_KEYS[2]).address;

let chain, dep, depFile, tmp, provider, channels, offer;
const children = new Set();

/** Runs the wallet; resolves {code, bill, stderr, child} once it exited. */
function runWallet(args, { onStart } = {}) {
  const child = spawn(WALLET, ['--rpc', chain.url, '--deployment', depFile, '--key-env', 'WS_TEST_DRIVER_KEY',
    ...args], { env: { ...process.env, WS_TEST_DRIVER_KEY: DRIVER_KEY }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '', err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => {
    err += d;
    if (process.env.WS_IT_VERBOSE) process.stderr.write(d);
  });
  if (onStart) onStart(child);
  return new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    const last = out.trim().split('\n').pop();
    let bill = null;
    try { bill = JSON.parse(last); } catch { /* no bill */ }
    resolve({ code, signal, bill, stderr: err, stdout: out, child });
  }));
}

/** A mock station, the wallet against it, then the station closed. */
async function session(stationOpts, walletArgs, runOpts = {}) {
  const st = await startMockStation({ deployment: dep, rpcUrl: chain.url, stationKey: STATION_KEY,
    offer, ...stationOpts });
  try {
    const r = await runWallet(['--station', st.url, '--connector', '1', ...walletArgs],
      { onStart: runOpts.onStart?.bind(null, st) });
    return { ...r, st };
  } finally {
    await st.close();
  }
}

const deposit = ['--deposit', '3000000', '--mint', '3000000'];
const explain = (r) => `exit ${r.code}\nstderr:\n${r.stderr.split('\n').slice(-25).join('\n')}\nbill: ${JSON.stringify(r.bill)?.slice(0, 600)}`;

before(async () => {
  assert.ok(fs.existsSync(WALLET), `build the wallet first: ${WALLET}`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-wallet-'));
  chain = await startAnvil({ port: 0 });
  depFile = path.join(tmp, 'deployment.json');
  dep = await deploy({ rpcUrl: chain.url, out: depFile });
  provider = new JsonRpcProvider(chain.url, dep.chainId, { staticNetwork: true });
  channels = new Contract(dep.contracts.channels.address, dep.contracts.channels.abi, provider);
  const relayer = new NonceManager(new Wallet(DEV_KEYS[3], provider));
  const registry = new Contract(dep.contracts.registry.address, dep.contracts.registry.abi, relayer);
  const o = makeOffer({ chainId: dep.chainId, registry: registry.target, stationKey: STATION_KEY,
    payee: PAYEE, token: dep.contracts.token.address, pricePerKWh: PRICE, incrementWh: INC_WH,
    prepaidIncrements: 1, graceSeconds: 2, endpoint: 'ws://127.0.0.1/wallet', nonce: 1n });
  await (await registry.publish(o.tuple, o.signature)).wait();
  assert.equal(await registry.isLive(o.tuple), true);
  offer = o.offer;
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  provider?.destroy();
  await chain?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const vouchersIn = (st) => st.received('voucher');
const voucherSigner = (st, v) => recoverAddress(
  TypedDataEncoder.hash(st.voucherDomain, VOUCHER_TYPES, { channelId: v.channelId, amount: BigInt(v.amount) }),
  v.signature);

describe('normal flow', () => {
  let firstChannel, skFile;
  const memory = { highest: new Map(), bills: new Map() };  // one station across both sessions

  test('opens a channel, pays every invoice with the session key, checks receipts, prints the bill', async () => {
    skFile = path.join(tmp, 'session.key');
    const r = await session({ endAfterMwh: 5 * INC_MWH, memory }, [...deposit, '--session-key-file', skFile]);
    assert.equal(r.code, 0, explain(r));
    const b = r.bill;
    assert.equal(b.ok, true);
    assert.equal(b.reason, 'ev');
    assert.equal(b.energyMwh, 5 * INC_MWH);
    assert.equal(b.amount, priceOf(5 * INC_MWH, PRICE).toString());
    assert.equal(b.base, '0');
    assert.equal(b.receiptsVerified, 6);             // 5 increments + the final receipt
    assert.equal(b.finalReceipt.final, true);
    assert.deepEqual(b.errors, []);
    // on the wire: one start, five vouchers, each exactly the invoice's amount
    assert.equal(r.st.received('start').length, 1);
    const inv = r.st.sent('invoice').map((m) => m.amount);
    const vs = vouchersIn(r.st);
    assert.deepEqual(vs.map((v) => v.amount), inv);
    assert.equal(vs.length, 5);
    assert.equal(b.vouchers, 5);
    assert.equal(b.vouchersAccepted, 5);
    // on-chain: the channel is ours, to the payee, named with the session key from the file
    firstChannel = b.channelId;
    const ch = await channels.getChannel(firstChannel);
    assert.equal(ch.sender, new Wallet(DRIVER_KEY).address);
    assert.equal(ch.receiver, PAYEE);
    assert.equal(ch.deposit, 3000000n);
    const sk = new Wallet(fs.readFileSync(skFile, 'utf8').trim());
    assert.equal(ch.sessionKey, sk.address);
    assert.notEqual(sk.address, ch.sender);
    for (const v of vs) assert.equal(voucherSigner(r.st, v), sk.address);
    assert.equal((fs.statSync(skFile).mode & 0o777), 0o600);
    assert.deepEqual(b.transactions.map((t) => t.what), ['mint', 'approve', 'open']);
  });

  test('reuses the channel with the same session key and stops at --max-kwh', async () => {
    const r = await session({ memory }, ['--channel', firstChannel, '--session-key-file', skFile, '--max-kwh', '0.2']);
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.bill.reason, 'stopped');
    assert.equal(r.bill.transactions.length, 0);     // nothing sent on-chain
    assert.ok(r.bill.energyMwh >= 200000 && r.bill.energyMwh < 300000, `energy ${r.bill.energyMwh}`);
    assert.equal(r.bill.base, priceOf(5 * INC_MWH, PRICE).toString());
    assert.equal(r.st.received('stop').length, 1);
    const sk = new Wallet(fs.readFileSync(skFile, 'utf8').trim());
    for (const v of vouchersIn(r.st)) assert.equal(voucherSigner(r.st, v), sk.address);
  });

  test('--channel with --deposit tops the channel up (approve + topUp) and keeps the session key', async () => {
    const r = await session({ endAfterMwh: INC_MWH, memory }, ['--channel', firstChannel, '--session-key-file', skFile,
      '--deposit', '1000000', '--mint', '1000000']);
    assert.equal(r.code, 0, explain(r));
    assert.deepEqual(r.bill.transactions.map((t) => t.what), ['mint', 'approve', 'topUp']);
    assert.equal((await channels.getChannel(firstChannel)).deposit, 4000000n);
    assert.equal(r.bill.reason, 'ev');
  });

  test('--permit opens the channel in one transaction (EIP-2612 permit + open)', async () => {
    const token = new Contract(dep.contracts.token.address, dep.contracts.token.abi, provider);
    const driver = new Wallet(DRIVER_KEY).address;
    const r = await session({ endAfterMwh: 2 * INC_MWH }, [...deposit, '--permit']);
    assert.equal(r.code, 0, explain(r));
    assert.deepEqual(r.bill.transactions.map((t) => t.what), ['mint', 'openWithPermit']);
    const ch = await channels.getChannel(r.bill.channelId);
    assert.equal(ch.deposit, 3000000n);
    assert.equal(await token.allowance(driver, channels.target), 0n);   // the permit was used up
    assert.equal(r.bill.vouchersAccepted, 2);
  });

  test('--max-amount: an invoice above it is answered with stop, not paid', async () => {
    const r = await session({}, [...deposit, '--max-amount', String(priceOf(2 * INC_MWH, PRICE))]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.bill.reason, 'stopped');
    assert.deepEqual(r.st.received('voucher').map((v) => v.amount),
      [priceOf(INC_MWH, PRICE).toString(), priceOf(2 * INC_MWH, PRICE).toString()]);
    assert.equal(r.st.received('stop').length, 1);
  });

  test('the station closes the connection while the channel is opened: the wallet connects again', async () => {
    const r = await session({ endAfterMwh: INC_MWH, tamper: { dropFirstAfterMs: 0 } }, deposit);
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.st.connections(), 2);
    assert.equal(r.st.received('start').length, 1);
    assert.equal(r.bill.reason, 'ev');
    assert.match(r.stderr, /connecting again/);
  });

  test('a different offer on the second connection is refused', async () => {
    const o = makeOffer({ chainId: dep.chainId, registry: dep.contracts.registry.address, stationKey: STATION_KEY,
      payee: PAYEE, token: dep.contracts.token.address, pricePerKWh: PRICE * 2n, incrementWh: INC_WH,
      prepaidIncrements: 1, graceSeconds: 2, endpoint: 'ws://127.0.0.1/wallet', nonce: 1n });
    const r = await session({ tamper: { dropFirstAfterMs: 0, laterOffer: o.offer } }, deposit);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.st.received('start').length, 0);
    assert.match(r.bill.errors.join('\n'), /changed its offer/);
  });

  test('SIGINT sends stop; the bill follows the ended message', async () => {
    const r = await session({}, deposit, {
      onStart: (st, child) => {
        st.waitFor((log) => log.filter((e) => e.msg.type === 'receipt').length >= 2)
          .then(() => child.kill('SIGINT'));
      },
    });
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.bill.reason, 'stopped');
    assert.equal(r.st.received('stop').length, 1);
    assert.ok(r.bill.receiptsVerified >= 3);
  });

  test('a `stop` line on stdin stops the session', async () => {
    const r = await session({}, deposit, {
      onStart: (st, child) => {
        st.waitFor((log) => log.some((e) => e.msg.type === 'receipt')).then(() => child.stdin.write('stop\n'));
      },
    });
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.bill.reason, 'stopped');
    assert.equal(r.st.received('stop').length, 1);
  });
});

describe('the wallet refuses a station it cannot trust', () => {
  const refused = async (stationOpts, why, extra = {}) => {
    const before = await channels.channelCount();
    const r = await session(stationOpts, deposit);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.bill.ok, false);
    assert.match(r.bill.errors.join('\n'), why);
    assert.equal(r.st.received('start').length, 0, 'no session started');
    assert.equal(r.st.received('voucher').length, 0, 'nothing paid');
    assert.equal(await channels.channelCount(), before, 'no channel opened');
    assert.deepEqual(r.bill.transactions, [], 'no transaction sent');
    return r;
  };

  test('offer signed by a key other than the station', () => refused({ tamper: { offerSignature: true } }, /signature/));
  test('offer field changed after signing (price)', () => refused({ tamper: { offerPrice: 1000 } }, /signature/));
  test('validly signed offer the registry does not hold as live', async () => {
    const o = makeOffer({ chainId: dep.chainId, registry: dep.contracts.registry.address, stationKey: STATION_KEY,
      payee: PAYEE, token: dep.contracts.token.address, pricePerKWh: PRICE, incrementWh: INC_WH,
      prepaidIncrements: 1, graceSeconds: 2, endpoint: 'ws://127.0.0.1/wallet', nonce: 2n });
    await refused({ offer: o.offer }, /not live/);
  });
  test('malformed hello: not JSON', () => refused({ tamper: { helloRaw: '{"type":"hello",' } }, /not a protocol message/));
  test('malformed hello: a binary frame', () => refused({ tamper: { helloRaw: '{}', helloBinary: true } }, /binary/));
  test('malformed hello: above 4096 bytes', () => refused({ tamper: { helloRaw: JSON.stringify({ type: 'hello', pad: 'x'.repeat(5000) }) } }, /4096/));
  test('hello for another chain', () => refused({ tamper: { hello: { chainId: '1' } } }, /not those of our deployment/));
  test('hello with a malformed offer field', () => refused({ tamper: { hello: { offer: { ...offer, pricePerKWh: '0x10' } } } }, /malformed offer/));
  test('station that does not select the subprotocol', async () => {
    const r = await session({ tamper: { noSubprotocol: true } }, deposit);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.st.received().length, 0);
  });
});

describe('bad receipts and invoices stop the payments', () => {
  const badReceipt = async (tamper, seq) => {
    const r = await session({ tamper }, deposit);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.bill.receiptBad, true);
    assert.match(r.bill.errors.join('\n'), /bad receipt/);
    // no voucher after the bad receipt went out; a stop did
    const iBad = r.st.log.findIndex((e) => e.dir === 'out' && e.msg.type === 'receipt' && e.msg.seq === seq);
    assert.ok(iBad >= 0);
    assert.equal(r.st.log.slice(iBad).filter((e) => e.dir === 'in' && e.msg.type === 'voucher').length, 0);
    assert.equal(r.st.received('stop').length, 1);
    // the good ones before it (seq is 0-based) and the final one
    assert.equal(r.bill.receiptsVerified, seq + 1);
    assert.equal(r.bill.finalReceipt.final, true);
    return r;
  };
  test('receipt signed by a stranger', () => badReceipt({ receiptSignatureAtSeq: 1 }, 1));
  test('receipt whose amountDue is one unit above the meter', () => badReceipt({ receiptAmountAtSeq: 2 }, 2));
  test('receipt whose meterMwh disagrees with deliveredMwh', () => badReceipt({ receiptMeterAtSeq: 1 }, 1));
  test('receipt with a high-S twin of the station\'s signature', () => badReceipt({ receiptHighSAtSeq: 0 }, 0));
  test('malformed receipt (deliveredMwh as a string)', () => badReceipt({ receiptMalformedAtSeq: 1 }, 1));
  test('invoice that overcharges by one unit is not paid', async () => {
    const r = await session({ tamper: { invoiceOvercharge: 1 } }, deposit);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.st.received('voucher').length, 0);
    assert.match(r.bill.errors.join('\n'), /invoice/);
  });
});

describe('misbehaviour flags', () => {
  test('--stop-paying-after 2: exactly two vouchers, then the station suspends and ends unpaid', async () => {
    const r = await session({ graceMs: 300 }, [...deposit, '--stop-paying-after', '2']);
    assert.equal(r.st.received('voucher').length, 2);
    assert.ok(r.st.sent('invoice').length >= 3);
    assert.equal(r.st.sent('suspended').length, 1);
    assert.equal(r.bill.reason, 'unpaid', explain(r));
    assert.equal(r.bill.energyMwh, 2 * INC_MWH);
  });

  test('--pay-late-ms 300: every voucher 300 ms after its invoice; suspended, then resumed', async () => {
    const r = await session({ endAfterMwh: 3 * INC_MWH, graceMs: 3000 }, [...deposit, '--pay-late-ms', '300']);
    assert.equal(r.code, 0, explain(r));
    const inv = r.st.log.filter((e) => e.dir === 'out' && e.msg.type === 'invoice');
    const vs = r.st.log.filter((e) => e.dir === 'in' && e.msg.type === 'voucher');
    assert.equal(vs.length, 3);
    for (const v of vs) {
      const i = inv.find((e) => e.msg.amount === v.msg.amount);
      assert.ok(v.t - i.t >= 290, `voucher ${v.msg.amount} came ${v.t - i.t} ms after its invoice`);
    }
    assert.ok(r.st.sent('suspended').length >= 1);
    assert.ok(r.st.sent('resumed').length >= 1);
    assert.equal(r.bill.reason, 'ev');
  });

  test('--pay-less: each voucher one unit below its invoice', async () => {
    const r = await session({ graceMs: 300 }, [...deposit, '--pay-less']);
    const inv = r.st.sent('invoice');
    const vs = r.st.received('voucher');
    assert.ok(vs.length >= 1);
    vs.forEach((v, i) => assert.equal(BigInt(v.amount), BigInt(inv[i].amount) - 1n));
    assert.equal(r.bill.reason, 'unpaid', explain(r));     // the allowance never covers the increment
  });

  test('--replay-old: later vouchers are the first one again, refused as not higher', async () => {
    const r = await session({ graceMs: 300 }, [...deposit, '--replay-old']);
    const vs = r.st.received('voucher');
    assert.ok(vs.length >= 2, explain(r));
    for (const v of vs.slice(1)) assert.deepEqual(v, vs[0]);
    const errs = r.st.sent('error');
    assert.ok(errs.length >= 1);
    assert.ok(errs.every((e) => e.code === 'voucher_not_higher' && e.id === 'v1'));
    assert.ok(r.bill.vouchersRejected >= 1);
    assert.equal(r.bill.reason, 'unpaid');
  });

  test('--sign-with-stranger: vouchers recover to neither the session key nor the sender', async () => {
    const r = await session({ graceMs: 300 }, [...deposit, '--sign-with-stranger']);
    const vs = r.st.received('voucher');
    assert.ok(vs.length >= 1, explain(r));
    const ch = await channels.getChannel(r.bill.channelId);
    for (const v of vs) {
      const s = voucherSigner(r.st, v);
      assert.notEqual(s, ch.sessionKey);
      assert.notEqual(s, ch.sender);
      assert.equal(v.channelId, r.bill.channelId);
    }
    assert.ok(r.st.sent('error').every((e) => e.code === 'voucher_wrong_signer'));
    assert.equal(r.st.sent('accepted').length, 0);
    assert.equal(r.bill.reason, 'unpaid');
  });

  test('--other-channel: vouchers name (and are signed for) another channel', async () => {
    const other = '0x' + 'ab'.repeat(32);
    const r = await session({ graceMs: 300 }, [...deposit, '--other-channel', other]);
    const vs = r.st.received('voucher');
    assert.ok(vs.length >= 1, explain(r));
    const ch = await channels.getChannel(r.bill.channelId);
    for (const v of vs) {
      assert.equal(v.channelId, other);
      assert.equal(voucherSigner(r.st, v), ch.sessionKey);   // a good signature, for the wrong channel
    }
    assert.ok(r.st.sent('error').every((e) => e.code === 'voucher_wrong_channel'));
    assert.equal(r.bill.reason, 'unpaid');
  });

  test('--flood 30: 30 copies of the accepted voucher in one burst; the station rate-limits and closes', async () => {
    const r = await session({}, [...deposit, '--flood', '30']);
    const vs = r.st.log.filter((e) => e.dir === 'in' && e.msg.type === 'voucher');
    assert.ok(vs.length >= 21, `${vs.length} vouchers`);
    const burst = vs.slice(1, 22);
    assert.ok(burst[burst.length - 1].t - burst[0].t < 1000);
    for (const v of burst) assert.deepEqual(v.msg, vs[0].msg);
    assert.ok(r.st.sent('error').some((e) => e.code === 'rate_limited'));
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.bill.reason, 'disconnected');
  });

  test('--request-close-after: close requested on-chain after the session', async () => {
    const r = await session({ endAfterMwh: 2 * INC_MWH }, [...deposit, '--request-close-after']);
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.bill.reason, 'ev');
    assert.deepEqual(r.bill.transactions.map((t) => t.what), ['mint', 'approve', 'open', 'requestClose']);
    const ch = await channels.getChannel(r.bill.channelId);
    assert.ok(ch.closeRequestedAt > 0n);
    // without the flag, no close request
    const r2 = await session({ endAfterMwh: INC_MWH }, deposit);
    assert.equal((await channels.getChannel(r2.bill.channelId)).closeRequestedAt, 0n);
  });
});

describe('TLS', () => {
  let pki;
  before(() => {
    pki = path.join(tmp, 'pki');
    fs.mkdirSync(pki);
    makePki(pki);
  });
  const tls = () => ({ key: fs.readFileSync(path.join(pki, 'server.key')), cert: fs.readFileSync(path.join(pki, 'server.pem')) });

  test('wss:// with --ca naming the station certificate\'s CA: a normal session', async () => {
    const r = await session({ tls: tls(), endAfterMwh: INC_MWH }, [...deposit, '--ca', path.join(pki, 'ca.pem')]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.bill.reason, 'ev');
    assert.match(r.st.url, /^wss:/);
  });

  test('wss:// with a CA that did not sign the station certificate: refused before hello', async () => {
    const r = await session({ tls: tls() }, [...deposit, '--ca', path.join(pki, 'rogue.pem')]);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.st.received().length, 0);
    assert.deepEqual(r.bill.transactions, []);
  });
});

describe('command line', () => {
  test('missing key or bad flag values exit 2 without touching anything', async () => {
    const r = spawnSync(WALLET, ['--rpc', 'http://127.0.0.1:1', '--deployment', depFile, '--key-env', 'NO_SUCH_VAR_X',
      '--station', 'ws://127.0.0.1:1/wallet', '--deposit', '1'], { env: {} });
    assert.equal(r.status, 2);
    const r2 = spawnSync(WALLET, ['--deposit', '-5'], { env: {} });
    assert.equal(r2.status, 2);
  });
});
