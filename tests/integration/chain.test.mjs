// chain.test.mjs: the C chain client (src/eth_rpc.c + src/chain.c, hosted by
// tests/probe-chain on its own lws loop) against a real anvil with the
// wattstream contracts deployed, and against a garbage HTTP server.  The
// channel is opened with ethers (contracts' node_modules) and read back by
// the probe field by field; claims go on-chain and move the payee's
// balance; a tampered voucher is refused before any gas is spent; a close
// request is seen in the logs; anvil stopped mid-way gives reported errors,
// no crash, and the probe works again once anvil is back on the same port.
// Every process started here is stopped by its PID.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

const SOURCE_ROOT = process.env.WS_SOURCE_ROOT ??
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const BUILD_ROOT = process.env.WS_BUILD_ROOT ?? path.join(SOURCE_ROOT, 'build');
const PROBE = path.join(BUILD_ROOT, 'tests', 'probe-chain');
const CONTRACTS = path.join(SOURCE_ROOT, 'contracts');

const require = createRequire(path.join(CONTRACTS, 'package.json'));
const { Contract, Wallet, getAddress, keccak256, toUtf8Bytes } = require('ethers');
const { startAnvil, DEV_KEYS } = await import(path.join(CONTRACTS, 'lib', 'anvil.mjs'));
const { makeProvider } = await import(path.join(CONTRACTS, 'lib', 'chain.mjs'));
const { signVoucher, voucherDomain } = await import(path.join(CONTRACTS, 'lib', 'testkit.mjs'));

if (!fs.existsSync(path.join(CONTRACTS, 'build', 'WattstreamChannels.json'))) {
  const r = spawnSync(process.execPath, ['scripts/compile.mjs'], { cwd: CONTRACTS, stdio: 'inherit' });
  assert.equal(r.status, 0, 'contracts compile');
}
const { deploy } = await import(path.join(CONTRACTS, 'scripts', 'deploy.mjs'));

// WS_ETH_RPC_E_* and WS_CHAIN_E_* (include/wattstream/{eth_rpc,chain}.h)
const E = { RPC: 1, TRANSPORT: 2, TIMEOUT: 3, HTTP: 4, TOO_BIG: 5, BAD_RESPONSE: 6,
  BAD_VALUE: 20, NO_CHANNEL: 23 };

/** The probe in stdin mode: cmd(line) resolves to its JSON answer. */
async function startProbe() {
  const child = spawn(PROBE, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((res) => child.once('exit', (code, sig) => res({ code, sig })));
  let buf = '';
  const lines = [];
  let waiter = null;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
    if (waiter && lines.length) waiter();
  });
  const next = (timeoutMs = 60000) => new Promise((resolve, reject) => {
    const take = () => { waiter = null; clearTimeout(t); resolve(lines.shift()); };
    const t = setTimeout(() => { waiter = null; reject(new Error('probe: no answer')); }, timeoutMs);
    if (lines.length) take(); else waiter = take;
  });
  assert.deepEqual(await next(), { ready: true });
  let exitedEarly = null;
  exited.then((e) => { exitedEarly = e; });
  return {
    pid: child.pid,
    async cmd(line, timeoutMs) {
      assert.equal(exitedEarly, null, `probe exited: ${JSON.stringify(exitedEarly)}`);
      child.stdin.write(line + '\n');
      const r = await next(timeoutMs);
      return r;
    },
    alive: () => exitedEarly === null,
    async stop() {
      if (exitedEarly) return exitedEarly;
      child.stdin.end('quit\n');
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      const e = await exited;
      clearTimeout(t);
      return e;
    },
  };
}

describe('chain client against anvil', () => {
  let chain, provider, d, probe, channels, token;
  let driver, payee, session, chainId;
  const ids = [];
  const DEPOSIT = 1_000_000n;

  async function openChannel(amount) {
    await (await token.connect(driver).approve(channels.target, amount)).wait();
    const rc = await (await channels.connect(driver).open(payee.address, token.target,
      session.address, amount)).wait();
    const ev = rc.logs.map((l) => { try { return channels.interface.parseLog(l); } catch { return null; } })
      .find((e) => e && e.name === 'ChannelOpened');
    return ev.args.channelId;
  }
  const sig = (id, amount) => signVoucher(session, voucherDomain(chainId, channels.target), id, amount);

  before(async () => {
    chain = await startAnvil();
    provider = makeProvider(chain.url);
    d = await deploy({ rpcUrl: chain.url });
    chainId = d.chainId;
    driver = new Wallet(DEV_KEYS[1], provider);
    payee = new Wallet(DEV_KEYS[2], provider);
    session = new Wallet(keccak256(toUtf8Bytes('chain.test session key')));
    channels = new Contract(d.contracts.channels.address, d.contracts.channels.abi, provider);
    token = new Contract(d.contracts.token.address, d.contracts.token.abi, provider);
    await (await token.connect(driver).mint(driver.address, 10n * DEPOSIT)).wait();
    ids.push(await openChannel(DEPOSIT));
    ids.push(await openChannel(DEPOSIT / 2n));
    probe = await startProbe();
    // short timeouts so that an outage shows within seconds; receipts wait 5 s
    assert.equal((await probe.cmd(`url ${chain.url} 1500 1 5000`)).ok, true);
  });

  after(async () => {
    // exit code 0: no crash, and no leak under the sanitizer build
    if (probe) assert.equal((await probe.stop()).code, 0);
    provider?.destroy();
    if (chain) await chain.stop();
  });

  test('chain id, block number, pending nonce and fees match the node', async () => {
    assert.deepEqual(await probe.cmd('chainid'), { cmd: 'chainid', ok: true, value: 31337 });
    const b = await probe.cmd('block');
    assert.equal(b.value, await provider.getBlockNumber());
    const n = await probe.cmd(`nonce ${driver.address}`);
    assert.equal(n.value, await provider.getTransactionCount(driver.address, 'pending'));
    const f = await probe.cmd('fees');
    assert.equal(f.ok, true);
    const blk = await provider.getBlock('latest');
    assert.equal(BigInt(f.baseFee), blk.baseFeePerGas);
    assert.equal(BigInt(f.maxFee), 2n * BigInt(f.baseFee) + BigInt(f.tip));
  });

  test('reads a channel exactly as the contract returns it', async () => {
    const r = await probe.cmd(`channel ${channels.target} ${ids[0]}`);
    const c = await channels.getChannel(ids[0]);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.id, ids[0]);
    assert.equal(r.sender, getAddress(c.sender));
    assert.equal(r.sender, driver.address);
    assert.equal(r.receiver, payee.address);
    assert.equal(r.token, getAddress(token.target));
    assert.equal(r.sessionKey, session.address);
    assert.equal(BigInt(r.deposit), c.deposit);
    assert.equal(BigInt(r.deposit), DEPOSIT);
    assert.equal(BigInt(r.claimed), 0n);
    assert.equal(BigInt(r.closeRequestedAt), c.closeRequestedAt);
    const none = await probe.cmd(`channel ${channels.target} 0x${'ab'.repeat(32)}`);
    assert.equal(none.ok, false);
    assert.equal(none.err, E.NO_CHANNEL);
  });

  test('a tampered voucher is refused by the gas estimate: nothing is sent', async () => {
    const nonce = await provider.getTransactionCount(payee.address, 'pending');
    const s = sig(ids[0], 5000n);
    const r = await probe.cmd(`claim ${channels.target} ${DEV_KEYS[2]} ${ids[0]} 6000 ${s} open`);
    assert.equal(r.ok, false);
    assert.equal(r.err, E.RPC);
    assert.equal(r.tx, undefined);
    assert.equal(await provider.getTransactionCount(payee.address, 'pending'), nonce);
  });

  test('claims one channel on-chain: the payee is paid, the channel records it', async () => {
    const before = await token.balanceOf(payee.address);
    const r = await probe.cmd(`claim ${channels.target} ${DEV_KEYS[2]} ${ids[0]} 250000 ${sig(ids[0], 250000n)} open`);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.receipt.status, true);
    assert.ok(r.receipt.gasUsed > 21000 && r.receipt.gasUsed <= r.gasLimit);
    const rc = await provider.getTransactionReceipt(r.tx);
    assert.equal(rc.status, 1);
    assert.equal(BigInt(rc.gasUsed), BigInt(r.receipt.gasUsed));
    assert.equal(await token.balanceOf(payee.address) - before, 250000n);
    const ch = await probe.cmd(`channel ${channels.target} ${ids[0]}`);
    assert.equal(ch.claimed, '250000');
    // Claimed(id, paid, total) and the token Transfer are in the receipt
    assert.ok(r.receipt.logs.length >= 2);
  });

  test('claims two channels in one claimMany transaction', async () => {
    const before = await token.balanceOf(payee.address);
    const r = await probe.cmd(`claim ${channels.target} ${DEV_KEYS[2]} ` +
      `${ids[0]} 400000 ${sig(ids[0], 400000n)} open ${ids[1]} 100000 ${sig(ids[1], 100000n)} open`);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(await token.balanceOf(payee.address) - before, 150000n + 100000n);
    assert.equal((await channels.getChannel(ids[1])).claimed, 100000n);
    const tx = await provider.getTransaction(r.tx);
    assert.equal(tx.data.slice(0, 10), channels.interface.getFunction('claimMany').selector);
    assert.equal(tx.type, 2);
  });

  test('sees a close request for its channels, not for others', async () => {
    const from = await provider.getBlockNumber();
    const rc = await (await channels.connect(driver).requestClose(ids[1])).wait();
    const ev = channels.interface.parseLog(rc.logs.find((l) => l.address === channels.target));
    const r = await probe.cmd(`closes ${channels.target} ${from} ${ids[0]} ${ids[1]}`);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.requests.length, 1);
    assert.equal(r.requests[0].channelId, ids[1]);
    assert.equal(BigInt(r.requests[0].settleAfter), ev.args.settleAfter);
    assert.equal(r.requests[0].block, rc.blockNumber);
    const other = await probe.cmd(`closes ${channels.target} ${from} ${ids[0]}`);
    assert.deepEqual(other.requests, [], JSON.stringify(other));
    // a range after the request (nodes refuse a fromBlock above the head: mine one)
    await provider.send('evm_mine', []);
    const later = await probe.cmd(`closes ${channels.target} ${rc.blockNumber + 1} ${ids[1]}`);
    assert.deepEqual(later.requests, [], JSON.stringify(later));
    const ch = await probe.cmd(`channel ${channels.target} ${ids[1]}`);
    assert.ok(ch.closeRequestedAt > 0);
    // the receiver still claims inside the challenge period (final claim)
    const before = await token.balanceOf(payee.address);
    const fin = await probe.cmd(`claim ${channels.target} ${DEV_KEYS[2]} ${ids[1]} 300000 ${sig(ids[1], 300000n)} close`);
    assert.equal(fin.ok, true, JSON.stringify(fin));
    assert.equal(await token.balanceOf(payee.address) - before, 200000n);
    assert.equal((await probe.cmd(`channel ${channels.target} ${ids[1]}`)).err, E.NO_CHANNEL);
  });

  test('a node on another chain than configured: nothing is signed', async () => {
    const nonce = await provider.getTransactionCount(payee.address, 'pending');
    assert.equal((await probe.cmd(`url ${chain.url} 1500 1 5000 chain=1`)).ok, true);
    assert.equal((await probe.cmd('chainid')).err, 24);
    const r = await probe.cmd(`claim ${channels.target} ${DEV_KEYS[2]} ${ids[0]} 300000 ${sig(ids[0], 300000n)} open`);
    assert.equal(r.err, 24);
    assert.equal(r.tx, undefined);
    assert.equal(await provider.getTransactionCount(payee.address, 'pending'), nonce);
    assert.equal((await probe.cmd(`url ${chain.url} 1500 1 5000 chain=31337`)).ok, true);
    assert.equal((await probe.cmd('chainid')).value, 31337);
  });

  test('anvil stopped mid-way: errors are reported, the probe lives, and works after a restart', async () => {
    const port = chain.port;
    const s = sig(ids[0], 500000n);
    await chain.stop();
    provider.destroy();
    const r1 = await probe.cmd('chainid');
    assert.equal(r1.ok, false);
    assert.equal(r1.err, E.TRANSPORT);
    const r2 = await probe.cmd(`channel ${channels.target} ${ids[0]}`);
    assert.equal(r2.err, E.TRANSPORT);
    const r3 = await probe.cmd(`claim ${channels.target} ${DEV_KEYS[2]} ${ids[0]} 500000 ${s} open`);
    assert.equal(r3.ok, false);
    assert.equal(r3.err, E.TRANSPORT);
    // a receipt wait rides out the outage until its deadline
    const r4 = await probe.cmd(`receipt 0x${'11'.repeat(32)}`, 40000);
    assert.equal(r4.ok, false);
    assert.equal(r4.error, 'transaction not mined in time');
    assert.ok(probe.alive());

    chain = await startAnvil({ port });
    provider = makeProvider(chain.url);
    assert.deepEqual(await probe.cmd('chainid'), { cmd: 'chainid', ok: true, value: 31337 });
    assert.equal((await probe.cmd('block')).value, 0);  // a fresh chain
    // and on it, a fresh deployment is read as well
    d = await deploy({ rpcUrl: chain.url });
    const c2 = await probe.cmd(`channel ${d.contracts.channels.address} ${ids[0]}`);
    assert.equal(c2.err, E.NO_CHANNEL);
  });
});

describe('chain client against a garbage HTTP server', () => {
  let server, port, probe;
  const sockets = new Set();

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        let id = 0, method = '';
        try { ({ id, method } = JSON.parse(body)); } catch { /* garbage in */ }
        const send = (status, text, type = 'application/json') => {
          res.writeHead(status, { 'content-type': type });
          res.end(text);
        };
        const env = (o) => JSON.stringify({ jsonrpc: '2.0', id, ...o });
        switch (req.url) {
          case '/notjson': return send(200, '<html>hello</html>', 'text/html');
          case '/wrongid': return send(200, JSON.stringify({ jsonrpc: '2.0', id: id + 1, result: '0x1' }));
          case '/both': return send(200, env({ result: '0x1', error: { code: 1, message: 'x' } }));
          case '/noversion': return send(200, JSON.stringify({ id, result: '0x1' }));
          case '/leadingzero': return send(200, env({ result: '0x0001' }));
          case '/oddhex': return send(200, env({ result: '0x123' })); // odd DATA (a QUANTITY may be odd)
          case '/nonhex': return send(200, env({ result: '0xzz' }));
          case '/hugequantity': return send(200, env({ result: '0x1' + '0'.repeat(64) }));
          case '/number': return send(200, env({ result: 31337 }));
          case '/rpcerror': return send(200, env({ error: { code: -32000, message: 'nope' } }));
          case '/http500': return send(500, 'internal error', 'text/plain');
          case '/http404': return send(404, 'no', 'text/plain');
          case '/huge': {
            res.writeHead(200, { 'content-type': 'application/json' });
            const chunk = ' '.repeat(1 << 16);
            for (let i = 0; i < 100; i++) res.write(chunk); // 6.5 MB > 4 MiB limit
            return res.end(env({ result: '0x1' }));
          }
          case '/fees-fallback': // a node without eth_maxPriorityFeePerGas
            if (method === 'eth_maxPriorityFeePerGas') return send(200, env({ error: { code: -32601, message: 'Method not found' } }));
            if (method === 'eth_feeHistory') return send(200, env({ result: { oldestBlock: '0x1', baseFeePerGas: [], reward: [['0x5'], ['0x1'], ['0x9']] } }));
            return send(200, env({ result: { number: '0x3', baseFeePerGas: '0x64' } }));
          case '/no-basefee':
            if (method === 'eth_maxPriorityFeePerGas') return send(200, env({ result: '0x1' }));
            return send(200, env({ result: { number: '0x3' } }));
          case '/receipt-otherhash':
            return send(200, env({ result: { transactionHash: '0x' + '22'.repeat(32), status: '0x1', blockNumber: '0x1', gasUsed: '0x5208', logs: [] } }));
          case '/receipt-badstatus':
            return send(200, env({ result: { transactionHash: '0x' + '11'.repeat(32), status: '0x2', blockNumber: '0x1', gasUsed: '0x5208', logs: [] } }));
          case '/closes-foreign': // a log the filter did not ask for
            return send(200, env({ result: [{ address: '0x' + '99'.repeat(20), topics: ['0x' + '00'.repeat(32), '0x' + '34'.repeat(32)], data: '0x' + '00'.repeat(32), blockNumber: '0x1', logIndex: '0x0', transactionHash: '0x' + '11'.repeat(32), removed: false }] }));
          case '/channel-dirty': // an address word with dirty high bytes
            return send(200, env({ result: '0x' + 'ff'.repeat(32) + '00'.repeat(32 * 6) }));
          case '/already-known':
            return send(200, env({ error: { code: -32000, message: 'already known' } }));
          case '/send-otherhash':
            return send(200, env({ result: '0x' + '22'.repeat(32) }));
          case '/hang': return undefined; // never answers
          case '/reset': return req.socket.destroy();
          case '/halfbody':
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
            res.write('{"jsonrpc":"2.0",');
            return setImmediate(() => req.socket.destroy());
          default: return send(200, env({ result: '0x7a69' }));
        }
      });
    });
    server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise((res) => server.listen(0, '127.0.0.1', res));
    port = server.address().port;
    probe = await startProbe();
  });

  after(async () => {
    if (probe) await probe.stop();
    for (const s of sockets) s.destroy();
    await new Promise((res) => server.close(res));
  });

  // [path, expected error, command (default chainid)]
  const CH = `channel 0x${'12'.repeat(20)} 0x${'34'.repeat(32)}`;
  const cases = [
    ['/good', 0],
    ['/oddhex', E.BAD_VALUE, CH],
    ['/channel-dirty', E.BAD_VALUE, CH],
    ['/no-basefee', 25, 'fees'],
    ['/receipt-otherhash', E.BAD_VALUE, `receipt 0x${'11'.repeat(32)}`],
    ['/receipt-badstatus', E.BAD_VALUE, `receipt 0x${'11'.repeat(32)}`],
    ['/send-otherhash', E.BAD_VALUE, 'send 0x02c0ffee'],
    ['/closes-foreign', E.BAD_VALUE, `closes 0x${'12'.repeat(20)} 0 0x${'34'.repeat(32)}`],
    ['/notjson', E.BAD_RESPONSE],
    ['/wrongid', E.BAD_RESPONSE],
    ['/both', E.BAD_RESPONSE],
    ['/noversion', E.BAD_RESPONSE],
    ['/leadingzero', E.BAD_VALUE],
    ['/nonhex', E.BAD_VALUE],
    ['/hugequantity', E.BAD_VALUE],
    ['/number', E.BAD_VALUE],
    ['/rpcerror', E.RPC],
    ['/http500', E.HTTP],
    ['/http404', E.HTTP],
    ['/huge', E.TOO_BIG],
    ['/hang', E.TIMEOUT],
    ['/reset', E.TRANSPORT],
    ['/halfbody', E.TRANSPORT],
  ];
  for (const [p, want, cmd = 'chainid'] of cases) {
    test(`${p}: ${cmd.split(' ')[0]} ${want ? `fails with error ${want}` : 'ok'}`, async () => {
      assert.equal((await probe.cmd(`url http://127.0.0.1:${port}${p} 700 1`)).ok, true);
      const r = await probe.cmd(cmd);
      if (want === 0) {
        assert.deepEqual(r, { cmd: 'chainid', ok: true, value: 31337 });
      } else {
        assert.equal(r.ok, false, JSON.stringify(r));
        assert.equal(r.err, want, JSON.stringify(r));
      }
      assert.ok(probe.alive());
    });
  }

  test('fees fall back to the median eth_feeHistory reward when the tip method is missing', async () => {
    assert.equal((await probe.cmd(`url http://127.0.0.1:${port}/fees-fallback 700 1`)).ok, true);
    const f = await probe.cmd('fees');
    assert.deepEqual(f, { cmd: 'fees', ok: true, baseFee: '100', tip: '5', maxFee: '205', tipFallback: true });
  });

  test('"already known" for a raw transaction counts as sent, with our own hash', async () => {
    assert.equal((await probe.cmd(`url http://127.0.0.1:${port}/already-known 700 1`)).ok, true);
    assert.deepEqual(await probe.cmd('send 0x02c0ffee'), { cmd: 'send', ok: true, tx: keccak256('0x02c0ffee') });
  });

  test('the probe still works after all of it', async () => {
    assert.equal((await probe.cmd(`url http://127.0.0.1:${port}/ 700 1`)).ok, true);
    assert.equal((await probe.cmd('chainid')).value, 31337);
    const e = await probe.stop();
    assert.equal(e.code, 0);
    probe = null;
  });
});

// TLS: certificates made with the openssl CLI (the test is skipped without it)
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
describe('chain client over HTTPS', { skip: !haveOpenssl && 'no openssl CLI' }, () => {
  let dir, servers = [], probe;
  const cert = (name, san) => {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
      'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, `${name}.key`),
      '-out', path.join(dir, `${name}.pem`), '-days', '2', '-subj', `/CN=${name}`,
      '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
    assert.equal(r.status, 0, 'openssl req');
    return { key: fs.readFileSync(path.join(dir, `${name}.key`)), cert: fs.readFileSync(path.join(dir, `${name}.pem`)),
      ca: path.join(dir, `${name}.pem`) };
  };
  const serve = async (c) => {
    const s = https.createServer({ key: c.key, cert: c.cert }, (req, res) => {
      let b = '';
      req.on('data', (x) => { b += x; });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: JSON.parse(b).id, result: '0x7a69' }));
      });
    });
    s.on('tlsClientError', () => {}); // refused handshakes are the point of some cases
    await new Promise((res) => s.listen(0, '127.0.0.1', res));
    servers.push(s);
    return s.address().port;
  };
  let good, wrong;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-chain-tls-'));
    good = { c: cert('good', 'DNS:localhost,IP:127.0.0.1') };
    wrong = { c: cert('wrong', 'DNS:other.example') };
    good.port = await serve(good.c);
    wrong.port = await serve(wrong.c);
    probe = await startProbe();
  });
  after(async () => {
    if (probe) assert.equal((await probe.stop()).code, 0);
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((res) => s.close(res));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = async (url, extra = '') => {
    assert.equal((await probe.cmd(`url ${url} 2000 0 0 ${extra}`)).ok, true);
    return probe.cmd('chainid');
  };
  test('verifies the server against the given CA', async () => {
    assert.equal((await call(`https://127.0.0.1:${good.port}/`, `ca=${good.c.ca}`)).value, 31337);
  });
  test('refuses a server the system CAs do not know', async () => {
    assert.equal((await call(`https://127.0.0.1:${good.port}/`)).err, E.TRANSPORT);
  });
  test('refuses a certificate for another name', async () => {
    assert.equal((await call(`https://127.0.0.1:${wrong.port}/`, `ca=${wrong.c.ca}`)).err, E.TRANSPORT);
  });
  test('refuses a certificate from another CA', async () => {
    assert.equal((await call(`https://127.0.0.1:${good.port}/`, `ca=${wrong.c.ca}`)).err, E.TRANSPORT);
  });
  test('insecure mode (tests only) skips the checks', async () => {
    assert.equal((await call(`https://127.0.0.1:${wrong.port}/`, 'insecure')).value, 31337);
  });
});
