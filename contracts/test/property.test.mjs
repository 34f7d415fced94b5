// Property-style test: seeded random sequences of open / top-up / voucher / claim /
// batch claim / close request / settle / time jumps (with a fee-on-transfer token
// among the tokens, and refused attempts mixed in) keep, after every step,
//   token.balanceOf(channels) == sum over open channels of (deposit - claimed)
// for each token, and every channel's on-chain state equal to a simple model.
// Seed: env PROPERTY_SEED (default fixed), steps: env PROPERTY_STEPS (default 160).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeKit, expectRevert, mined } from '../lib/testkit.mjs';

const SEED = Number(process.env.PROPERTY_SEED ?? 20261125);
const STEPS = Number(process.env.PROPERTY_STEPS ?? 160);

function rng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let k;
before(async () => { k = await makeKit(); await k.fresh(); });
after(async () => { await k?.close(); });

test(`random channel operations keep the balance invariant (seed ${SEED}, ${STEPS} steps)`, async () => {
  const rand = rng(SEED);
  const int = (n) => Math.floor(rand() * n);
  const pick = (arr) => arr[int(arr.length)];
  const big = (n) => BigInt(1 + int(n));
  const fee = await k.deploy('FeeOnTransferToken');
  const tokens = [k.token, fee];
  const feeOf = (t, amt) => (t === fee ? amt / 100n : 0n);
  const senders = [k.alice, k.dave];
  const receivers = [k.bob, k.carol];
  const ch = k.channels;
  const chAddr = await ch.getAddress();
  for (const s of senders) {
    for (const t of tokens) {
      await mined(t.connect(s).mint(s.address, 10n ** 30n));
      await mined(t.connect(s).approve(chAddr, 2n ** 255n));
    }
  }
  const model = new Map(); // id -> {sender, receiver, token, deposit, claimed, closeAt, voucher}
  const open = () => [...model.values()].filter((c) => c);
  const counts = {};
  const did = (what) => { counts[what] = (counts[what] ?? 0) + 1; };

  async function check(step) {
    for (const t of tokens) {
      const want = open().filter((c) => c.token === t).reduce((s, c) => s + c.deposit - c.claimed, 0n);
      assert.equal(await t.balanceOf(chAddr), want, `step ${step}: balance of ${await t.symbol()}`);
    }
    for (const c of open()) {
      const on = await ch.getChannel(c.id);
      assert.equal(on.deposit, c.deposit, `step ${step}: deposit`);
      assert.equal(on.claimed, c.claimed, `step ${step}: claimed`);
      assert.equal(on.closeRequestedAt, c.closeAt, `step ${step}: closeRequestedAt`);
    }
  }
  const due = (c, amount) => { const cap = amount < c.deposit ? amount : c.deposit; return cap > c.claimed ? cap - c.claimed : 0n; };
  const finish = (c) => { model.set(c.id, null); };

  for (let step = 0; step < STEPS; step++) {
    const live = open();
    const r = rand();
    if (live.length < 2 || r < 0.15) {
      const sender = pick(senders); const token = pick(tokens); const amount = big(1_000_000);
      const rec = await mined(ch.connect(sender).open(pick(receivers).address, token.target, k.session.address, amount));
      const ev = rec.logs.map((l) => { try { return ch.interface.parseLog(l); } catch { return null; } }).find((x) => x?.name === 'ChannelOpened');
      const c = { id: ev.args.channelId, sender, receiver: receivers.find((x) => x.address === ev.args.receiver), token,
        deposit: amount - feeOf(token, amount), claimed: 0n, closeAt: 0n, voucher: 0n };
      assert.equal(ev.args.deposit, c.deposit);
      model.set(c.id, c);
      did('open');
    } else if (r < 0.27) {
      const c = pick(live); const amount = big(500_000);
      if (c.closeAt) { await expectRevert(ch.connect(c.sender).topUp(c.id, amount), 'ChannelClosing'); did('topUp-refused'); }
      else { await mined(ch.connect(c.sender).topUp(c.id, amount)); c.deposit += amount - feeOf(c.token, amount); did('topUp'); }
    } else if (r < 0.45) {
      const c = pick(live); c.voucher += big(rand() < 0.1 ? 3_000_000 : 200_000); did('voucher');
    } else if (r < 0.58) {
      const c = pick(live); const close = rand() < 0.3;
      if (due(c, c.voucher) === 0n && rand() < 0.7) c.voucher += big(100_000); // the wallet paid meanwhile
      const sig = k.voucher(rand() < 0.8 ? k.session : c.sender, c.id, c.voucher);
      const paid = due(c, c.voucher);
      if (!close && paid === 0n) { await expectRevert(ch.connect(c.receiver).claim(c.id, c.voucher, sig, false), 'NothingToClaim'); did('claim-nothing'); continue; }
      const before = await c.token.balanceOf(c.receiver.address);
      await mined(ch.connect(c.receiver).claim(c.id, c.voucher, sig, close));
      assert.equal(await c.token.balanceOf(c.receiver.address) - before, paid - feeOf(c.token, paid));
      c.claimed += paid;
      if (close) finish(c);
      did(close ? 'claim-final' : 'claim-partial');
    } else if (r < 0.66) {
      const receiver = pick(receivers);
      const mine = live.filter((c) => c.receiver === receiver && due(c, c.voucher) > 0n);
      if (mine.length === 0) continue;
      const batch = mine.slice(0, 1 + int(mine.length));
      const claims = batch.map((c) => ({ channelId: c.id, amount: c.voucher, signature: k.voucher(k.session, c.id, c.voucher), close: rand() < 0.3 }));
      await mined(ch.connect(receiver).claimMany(claims));
      batch.forEach((c, i) => { c.claimed += due(c, c.voucher); if (claims[i].close) finish(c); });
      did('claimMany');
    } else if (r < 0.74) {
      const c = pick(live);
      if (c.closeAt) { await expectRevert(ch.connect(c.sender).requestClose(c.id), 'CloseAlreadyRequested'); did('close-again'); }
      else { const rec = await mined(ch.connect(c.sender).requestClose(c.id)); c.closeAt = BigInt((await k.provider.getBlock(rec.blockNumber)).timestamp); did('requestClose'); }
    } else if (r < 0.84) {
      const c = pick(live);
      const now = await k.now();
      if (!c.closeAt) { await expectRevert(ch.connect(c.sender).settle(c.id), 'CloseNotRequested'); did('settle-unrequested'); }
      else if (now + 1n < c.closeAt + 86400n) { await expectRevert(ch.connect(c.sender).settle(c.id), 'ChallengePeriodActive'); did('settle-early'); }
      else { await mined(ch.connect(c.sender).settle(c.id)); finish(c); did('settle'); }
    } else if (r < 0.92) {
      await k.increaseTime(int(2 * 86400)); did('time');
    } else {
      // refused attempts change nothing
      const c = pick(live);
      if (rand() < 0.5) await expectRevert(ch.connect(c.receiver).claim(c.id, c.voucher + 1n, k.voucher(k.stranger, c.id, c.voucher + 1n), false), 'InvalidVoucher');
      else await expectRevert(ch.connect(c.sender).claim(c.id, c.voucher, k.voucher(k.session, c.id, c.voucher), false), 'NotReceiver');
      did('attack-refused');
    }
    await check(step);
  }
  // everything that mattered happened at least once
  for (const what of ['open', 'topUp', 'claim-partial', 'claim-final', 'claimMany', 'requestClose', 'settle']) {
    assert.ok(counts[what] > 0, `${what} never happened: ${JSON.stringify(counts)}`);
  }
});
