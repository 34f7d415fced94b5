// The shared anvil helper (lib/anvil.mjs) and the deploy script (scripts/deploy.mjs):
// free ports, readiness, stop by PID, failures to start; deployment JSON contents,
// key rules per chain id, test token rules, the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Contract, Wallet } from 'ethers';
import { startAnvil, anvilPath, rpc, DEV_KEYS } from '../lib/anvil.mjs';
import { makeProvider } from '../lib/chain.mjs';
import { deploy } from '../scripts/deploy.mjs';

const run = promisify(execFile);
const deployScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'deploy.mjs');
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('startAnvil: free ports, chain id, stop by PID', async () => {
  assert.ok(path.isAbsolute(anvilPath()));
  const a = await startAnvil();
  const b = await startAnvil({ chainId: 1337 });
  try {
    assert.notEqual(a.port, b.port);
    assert.match(a.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(Number(await rpc(a.url, 'eth_chainId')), 31337);
    assert.equal(Number(await rpc(b.url, 'eth_chainId')), 1337);
    assert.equal(b.chainId, 1337);
    assert.ok(alive(a.pid) && alive(b.pid));
  } finally {
    await a.stop();
    await b.stop();
  }
  assert.equal(alive(a.pid), false);
  assert.equal(alive(b.pid), false);
  await a.stop(); // idempotent
});

test('startAnvil: a busy port fails cleanly', async () => {
  const a = await startAnvil();
  try {
    await assert.rejects(startAnvil({ port: a.port, timeoutMs: 10000 }), /exited before ready|not ready/);
    assert.equal(Number(await rpc(a.url, 'eth_chainId')), 31337); // the first one is untouched
  } finally {
    await a.stop();
  }
});

test('startAnvil: block time option mines on its own', async () => {
  const a = await startAnvil({ blockTime: 1 });
  try {
    const n0 = Number(await rpc(a.url, 'eth_blockNumber'));
    // wait for readiness of a new block by polling, bounded
    const until = Date.now() + 10000;
    let n = n0;
    while (n === n0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      n = Number(await rpc(a.url, 'eth_blockNumber'));
    }
    assert.ok(n > n0, 'a block was mined without transactions');
  } finally {
    await a.stop();
  }
});

test('deploy(): dev chain defaults, deployment JSON fields, working contracts', async () => {
  const a = await startAnvil();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wattstream-deploy-'));
  try {
    const out = path.join(dir, 'd.json');
    const d = await deploy({ rpcUrl: a.url, out });
    assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), d);
    assert.equal(d.chainId, 31337);
    assert.deepEqual(d.eip712, { name: 'Wattstream', version: '1' });
    assert.equal(d.challengePeriod, 86400);
    assert.ok(!Number.isNaN(Date.parse(d.deployedAt)));
    for (const name of ['channels', 'registry', 'token']) {
      assert.match(d.contracts[name].address, /^0x[0-9a-fA-F]{40}$/);
      assert.ok(Array.isArray(d.contracts[name].abi) && d.contracts[name].abi.length > 5, name);
    }
    const p = makeProvider(a.url);
    const ch = new Contract(d.contracts.channels.address, d.contracts.channels.abi, p);
    const dom = await ch.eip712Domain();
    assert.equal(dom.name, d.eip712.name);
    assert.equal(dom.verifyingContract, d.contracts.channels.address);
    const tok = new Contract(d.contracts.token.address, d.contracts.token.abi, new Wallet(DEV_KEYS[1], p));
    const holder = new Wallet(DEV_KEYS[1]).address;
    await (await tok.mint(holder, 5n)).wait();
    assert.equal(await tok.balanceOf(holder), 5n);
    assert.equal(await tok.decimals(), 6n);
    p.destroy();
    const d2 = await deploy({ rpcUrl: a.url, challengePeriod: 7200, testToken: false });
    assert.equal(d2.contracts.token, null);
    assert.equal(d2.challengePeriod, 7200);
    const d3 = await deploy({ rpcUrl: a.url, token: d.contracts.token.address });
    assert.equal(d3.contracts.token.address, d.contracts.token.address);
    await assert.rejects(deploy({ rpcUrl: a.url, challengePeriod: 60 }), /ChallengePeriodOutOfRange|revert/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await a.stop();
  }
});

test('deploy CLI: key from DEPLOYER_KEY, required off 31337; prints the JSON path', async () => {
  const a = await startAnvil({ chainId: 1337 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wattstream-deploy-'));
  try {
    const out = path.join(dir, 'dep.json');
    const env = { ...process.env };
    delete env.DEPLOYER_KEY;
    await assert.rejects(run('node', [deployScript, '--rpc', a.url, '--out', out], { env }), /DEPLOYER_KEY/);
    assert.equal(fs.existsSync(out), false);
    const { stdout } = await run('node', [deployScript, '--rpc', a.url, '--out', out, '--challenge-period', '3600'],
      { env: { ...env, DEPLOYER_KEY: DEV_KEYS[3] } });
    assert.equal(stdout.trim(), out);
    const d = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(d.chainId, 1337);
    assert.equal(d.challengePeriod, 3600);
    assert.equal(d.deployer, new Wallet(DEV_KEYS[3]).address);
    assert.ok(d.contracts.token, 'chain 1337 is a dev chain: test token deployed');
    await assert.rejects(run('node', [deployScript, '--rpc', a.url, '--bogus'], { env }), /unknown argument/);
    await assert.rejects(run('node', [deployScript], { env }), /usage/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await a.stop();
  }
});

test('deploy on a non-dev chain: no test token unless asked', async () => {
  const a = await startAnvil({ chainId: 4242 });
  try {
    const d = await deploy({ rpcUrl: a.url, key: DEV_KEYS[0] });
    assert.equal(d.contracts.token, null);
    const d2 = await deploy({ rpcUrl: a.url, key: DEV_KEYS[0], testToken: true });
    assert.ok(d2.contracts.token.address);
  } finally {
    await a.stop();
  }
});
