// payment_chain.test.mjs: the chain is down mid-session.  A paid session
// runs on connector 1 (anvil with the contracts, the simulated charger with
// two connectors, wattstreamd with [payment] on, wattstream-wallet); anvil
// is stopped by its PID keeping its state (--state FILE).  While it is down
// vouchers are verified locally, so charging must go on as long as the
// wallet pays (the contactor never opens), and a new session on connector 2
// must be refused with chain_unavailable without energizing anything.  The
// session ends while the chain is down (no claim can go out), anvil starts again
// on the same port with its state, and the claim must then be mined: the
// channel's claimed amount and the payee's token balance.  Every process is
// started here and stopped by its PID.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { WATTSTREAMD, cleanup, lineClient, start, startSim, stopAll, tempDir, until } from './lib/proc.mjs';
import {
  devKey, deployAll, ethers, openChannel, payConfig, provider, rawWallet, rpc, runWallet, sleep, startChain,
  walletPort, writePayeeKey,
} from './lib/pay-rig.mjs';

const PRICE = 300000n;
const INC_WH = 50;
const INC_AMOUNT = PRICE * BigInt(INC_WH) / 1000n;
const OUTAGE_MS = 5000;
const log = (m) => { if (process.env.WS_IT_VERBOSE) console.error(`[test] ${m}`); };

describe('the chain is down mid-session', () => {
  let dir, stateFile, chain, dep, depFile, sim, d, port, payee, channelB;
  before(async () => {
    dir = tempDir('ws-it-paychain-');
    stateFile = path.join(dir, 'anvil-state.json');
    chain = await startChain({ stateFile });
    ({ dep, depFile } = await deployAll(chain, dir));
    sim = await startSim(dir, ['--connectors', '2', '--power-kw', '200']);
    payee = writePayeeKey(dir);
    port = walletPort();
    const conf = path.join(dir, 'wattstreamd.conf');
    fs.writeFileSync(conf, payConfig({ dir, chainUrl: chain.url, depFile, simPort: sim.port, walletPort: port,
      connectors: 2, price: PRICE, incrementWh: INC_WH, prepaid: 1, graceS: 3, watchS: 1 }));
    d = await start(WATTSTREAMD, ['-c', conf], { ready: /<5>ready: /, name: 'wattstreamd' });
    d.ctl = await lineClient(path.join(dir, 'control.sock'));
    await d.waitLine(/offer published in the registry/, 20000);
    // a second funded channel (another driver) for a start during the outage
    channelB = await openChannel(chain.url, dep, devKey(3), payee, 3000000n);
  });
  after(async () => {
    await stopAll();
    await chain?.stop();
    cleanup(dir);
  });

  const conn = async (i) => (await d.ctl.cmd('status')).connectors[i - 1];

  test('charging continues while paid, no new session starts, the claim goes out when the chain is back', async () => {
    const station = `ws://127.0.0.1:${port}/wallet`;
    const w = await runWallet({ chainUrl: chain.url, depFile, station,
      args: ['--connector', '1', '--deposit', '3000000', '--mint', '10000000'] });
    await until(async () => (await conn(1)).payment?.state === 'charging' && w.count(/: accepted /) >= 2,
      { what: 'session charging, two vouchers accepted', timeoutMs: 20000 });

    let p = provider(chain.url);
    let channels = new ethers.Contract(dep.contracts.channels.address, dep.contracts.channels.abi, p);
    let token = new ethers.Contract(dep.contracts.token.address, dep.contracts.token.abi, p);
    const balance0 = await token.balanceOf(payee);
    p.destroy();

    // ---- the chain goes away (its state is written to stateFile) ----
    const s0 = await sim.ctl.cmd('status 1');
    const c0 = await conn(1);
    const acc0 = w.count(/: accepted /);
    const chainPort = chain.port;
    const blockStop = BigInt(await rpc(chain.url, 'eth_blockNumber'));
    await chain.stop();
    chain = null;
    assert.ok(fs.existsSync(stateFile), 'anvil wrote its state');
    await assert.rejects(rpc(`http://127.0.0.1:${chainPort}`, 'eth_blockNumber'), 'the chain is really down');

    // energy keeps flowing while the wallet pays: the contactor never opens,
    // the session never suspends
    const states = new Set();
    const t0 = Date.now();
    while (Date.now() - t0 < OUTAGE_MS) {
      const c = await conn(1);
      states.add(c.payment?.state);
      assert.equal(c.contactor, 'closed', `contactor opened during the outage: ${JSON.stringify(c)}`);
      await sleep(50);
    }
    const s1 = await sim.ctl.cmd('status 1');
    const c1 = await conn(1);
    assert.deepEqual([...states], ['charging'], 'the session stayed charging');
    assert.equal(s1.coil, 1);
    assert.equal(s1.coil_changes, s0.coil_changes, 'no cut during the outage');
    const whDuring = s1.true_energy_wh - s0.true_energy_wh;
    assert.ok(whDuring >= 200 * OUTAGE_MS / 3600 * 0.8, `energy during the outage: ${whDuring} Wh`);
    // ... because vouchers kept being accepted, verified locally
    assert.ok(w.count(/: accepted /) - acc0 >= 3, `vouchers accepted during the outage: ${w.count(/: accepted /) - acc0}`);
    assert.ok(BigInt(c1.payment.paid) >= BigInt(c0.payment.paid) + 3n * INC_AMOUNT,
      `paid ${c0.payment.paid} -> ${c1.payment.paid}`);
    assert.ok(c1.payment.delivered_mwh <= c1.payment.allowance_mwh, JSON.stringify(c1.payment));
    assert.equal(c1.payment.max_overshoot_mwh, 0, 'never beyond what was paid');
    assert.equal(w.count(/suspended/), 0, 'the wallet was never told suspended');

    // ---- a new session cannot start: clear error, nothing energized ----
    const e2 = (await sim.ctl.cmd('status 2')).true_energy_wh;
    const raw = await rawWallet(station);
    await raw.next((m) => m.type === 'hello');
    raw.send({ type: 'start', id: 's2', connector: 2, channelId: channelB });
    const tStart = Date.now();
    const refused = await raw.next((m) => m.id === 's2', 30000);
    log(`start refused after ${Date.now() - tStart} ms: ${JSON.stringify(refused)}`);
    assert.equal(refused.type, 'error', JSON.stringify(refused));
    assert.equal(refused.code, 'chain_unavailable', JSON.stringify(refused));
    await sleep(300);
    assert.ok(!raw.msgs.some((m) => m.type === 'session' || m.type === 'invoice'), JSON.stringify(raw.msgs));
    const s2 = await sim.ctl.cmd('status 2');
    assert.equal(s2.coil, 0, 'connector 2 not energized');
    assert.equal(s2.coil_changes, 0);
    assert.equal(s2.true_energy_wh, e2);
    const c2 = await conn(2);
    assert.equal(c2.payment, null);
    assert.equal(c2.contactor, 'open');
    await raw.close();

    // ---- the session ends while the chain is still down: no claim can go out ----
    w.child.stdin.write('stop\n');
    const r = await w.done;
    assert.equal(r.code, 0, r.stderr.split('\n').slice(-15).join('\n'));
    assert.equal(r.bill.reason, 'stopped');
    assert.equal(r.bill.vouchersRejected, 0);
    assert.ok(!r.bill.receiptBad, JSON.stringify(r.bill.errors));
    assert.ok(BigInt(r.bill.amountDue) <= BigInt(r.bill.paid), `charged beyond what was paid: ${JSON.stringify(r.bill)}`);
    // what the station tries meanwhile (a claim, the watchtower) finds no chain
    await sleep(3000);
    assert.ok(!d.lines().some((l) => /claimed on-chain/.test(l)), 'nothing claimed while the chain is down');

    // ---- the chain is back on the same port with its state ----
    chain = await startChain({ port: chainPort, stateFile });
    assert.ok(BigInt(await rpc(chain.url, 'eth_blockNumber')) >= blockStop, 'state loaded');
    p = provider(chain.url);
    channels = new ethers.Contract(dep.contracts.channels.address, dep.contracts.channels.abi, p);
    token = new ethers.Contract(dep.contracts.token.address, dep.contracts.token.abi, p);
    try {
      // a claim that failed may back off (30 s) before the watchtower sends it again
      await d.waitLine(/claimed on-chain/, 60000);
      const ch = await channels.getChannel(r.bill.channelId);
      assert.equal(ch.claimed, BigInt(r.bill.paid), 'the highest voucher is claimed');
      assert.equal(await token.balanceOf(payee), balance0 + BigInt(r.bill.paid), 'the payee got it');
      // mined after the restart, in one claim
      const claims = await channels.queryFilter(channels.filters.Claimed(r.bill.channelId), 0, 'latest');
      assert.equal(claims.length, 1, JSON.stringify(claims.map((e) => e.blockNumber)));
      assert.ok(BigInt(claims[0].blockNumber) > blockStop, `claim in block ${claims[0].blockNumber}, chain stopped at ${blockStop}`);
    } finally {
      p.destroy();
    }

    // ---- and a new session starts again ----
    const raw2 = await rawWallet(station);
    await raw2.next((m) => m.type === 'hello');
    raw2.send({ type: 'start', id: 's3', connector: 2, channelId: channelB });
    const ok = await raw2.next((m) => m.id === 's3', 30000);
    assert.equal(ok.type, 'session', JSON.stringify(ok));
    raw2.send({ type: 'stop', id: 'x3', session: ok.session });
    assert.equal((await raw2.next((m) => m.type === 'ended')).reason, 'stopped');
    await raw2.close();
  });
});
