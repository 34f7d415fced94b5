// WattstreamChannels on a private anvil: every function's success path and reverts,
// and the attacks of issue 4 (replay across channel/contract/chain, malleable and
// malformed signatures, strangers, non-receivers, early settle, voucher after close,
// top-up during close, hostile re-entrant token, fee-on-transfer token, deposit
// overflow). Each test runs on a chain snapshot that is reverted afterwards.
import { describe, test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { AbiCoder, MaxUint256, Signature, TypedDataEncoder, keccak256, id as keccakText } from 'ethers';
import {
  makeKit, expectRevert, mined, events, highS, withV, voucherDomain, signVoucher,
  VOUCHER_TYPES, VOUCHER_TYPE_STRING,
} from '../lib/testkit.mjs';

const DAY = 86400n;
let k;
let snap;

before(async () => { k = await makeKit(); await k.fresh(); });
after(async () => { await k?.close(); });
beforeEach(async () => { snap = await k.snapshot(); });
afterEach(async () => { await k.revert(snap); });

const bal = async (token, who) => token.balanceOf(who.address ?? who);
const chAddr = () => k.channels.getAddress();

describe('deploy and views', () => {
  test('constructor bounds the challenge period', async () => {
    await expectRevert(k.deploy('WattstreamChannels', [3599]), 'ChallengePeriodOutOfRange');
    await expectRevert(k.deploy('WattstreamChannels', [30 * 86400 + 1]), 'ChallengePeriodOutOfRange');
    const c = await k.deploy('WattstreamChannels', [3600]);
    assert.equal(await c.challengePeriod(), 3600n);
    assert.equal(await k.channels.challengePeriod(), DAY);
  });

  test('EIP-712 domain, type hash and digest match an independent encoder', async () => {
    assert.equal(await k.channels.VOUCHER_TYPEHASH(), keccakText(VOUCHER_TYPE_STRING));
    assert.equal(await k.channels.DOMAIN_SEPARATOR(), TypedDataEncoder.hashDomain(k.domain));
    const d = await k.channels.eip712Domain();
    assert.equal(d.name, 'Wattstream');
    assert.equal(d.version, '1');
    assert.equal(d.chainId, k.chainId);
    assert.equal(d.verifyingContract, await chAddr());
    const cid = keccakText('some channel');
    for (const amount of [0n, 1n, 123456789n, MaxUint256]) {
      assert.equal(await k.channels.voucherDigest(cid, amount),
        TypedDataEncoder.hash(k.domain, VOUCHER_TYPES, { channelId: cid, amount }));
    }
  });

  test('voucherSigner returns the signer, zero for unacceptable signatures', async () => {
    const cid = keccakText('x');
    const sig = k.voucher(k.session, cid, 5n);
    assert.equal(await k.channels.voucherSigner(cid, 5n, sig), k.session.address);
    const zero = '0x0000000000000000000000000000000000000000';
    assert.equal(await k.channels.voucherSigner(cid, 5n, highS(sig)), zero);
    assert.equal(await k.channels.voucherSigner(cid, 5n, withV(sig, 0)), zero);
    assert.equal(await k.channels.voucherSigner(cid, 5n, withV(sig, 1)), zero);
    assert.equal(await k.channels.voucherSigner(cid, 5n, sig.slice(0, 130)), zero);
    assert.equal(await k.channels.voucherSigner(cid, 5n, sig + '00'), zero);
    assert.equal(await k.channels.voucherSigner(cid, 5n, '0x'), zero);
    assert.notEqual(await k.channels.voucherSigner(cid, 6n, sig), k.session.address);
  });
});

describe('open', () => {
  test('locks the deposit, records the channel, emits ChannelOpened', async () => {
    const before = await bal(k.token, k.alice);
    const { id, receipt } = await k.open({ amount: 1000n, mint: true });
    assert.equal(await bal(k.token, k.alice), before); // minted 1000, locked 1000
    assert.equal(await k.token.balanceOf(await chAddr()), 1000n);
    const c = await k.channels.getChannel(id);
    assert.equal(c.sender, k.alice.address);
    assert.equal(c.receiver, k.bob.address);
    assert.equal(c.token, await k.token.getAddress());
    assert.equal(c.sessionKey, k.session.address);
    assert.equal(c.deposit, 1000n);
    assert.equal(c.claimed, 0n);
    assert.equal(c.closeRequestedAt, 0n);
    const [ev] = events(receipt, k.channels, 'ChannelOpened');
    assert.equal(ev.args.channelId, id);
    assert.equal(ev.args.sender, k.alice.address);
    assert.equal(ev.args.receiver, k.bob.address);
    assert.equal(ev.args.sessionKey, k.session.address);
    assert.equal(ev.args.deposit, 1000n);
  });

  test('channel id = keccak256(abi.encode(chainId, contract, sender, counter)), never repeats', async () => {
    const a = await k.open();
    const b = await k.open(); // same sender, receiver, token, key, amount
    const c = await k.open({ from: k.dave });
    assert.equal(await k.channels.channelCount(), 3n);
    const enc = AbiCoder.defaultAbiCoder();
    const expect = (sender, n) => keccak256(enc.encode(['uint256', 'address', 'address', 'uint256'],
      [k.chainId, k.channels.target, sender, n]));
    assert.equal(a.id, expect(k.alice.address, 1n));
    assert.equal(b.id, expect(k.alice.address, 2n));
    assert.equal(c.id, expect(k.dave.address, 3n));
    assert.equal(await k.channels.computeChannelId(k.alice.address, 2n), b.id);
    assert.equal(new Set([a.id, b.id, c.id]).size, 3);
  });

  test('reverts: zero receiver, zero token, zero amount, receiver as session key, no allowance, above uint128', async () => {
    const t = await k.token.getAddress();
    const ch = k.channels.connect(k.alice);
    const zero = '0x0000000000000000000000000000000000000000';
    await expectRevert(ch.open(zero, t, k.session.address, 1n), 'ZeroAddress');
    await expectRevert(ch.open(k.bob.address, zero, k.session.address, 1n), 'ZeroAddress');
    await expectRevert(ch.open(k.bob.address, t, k.session.address, 0n), 'ZeroDeposit');
    await expectRevert(ch.open(k.bob.address, t, k.bob.address, 1n), 'SessionKeyIsReceiver');
    await mined(k.token.connect(k.alice).mint(k.alice.address, 10n));
    await expectRevert(ch.open(k.bob.address, t, k.session.address, 10n), 'ERC20InsufficientAllowance');
    const big = 2n ** 128n;
    await mined(k.token.connect(k.alice).mint(k.alice.address, big));
    await mined(k.token.connect(k.alice).approve(await chAddr(), big));
    await expectRevert(ch.open(k.bob.address, t, k.session.address, big), 'DepositOverflow');
    await mined(ch.open(k.bob.address, t, k.session.address, big - 1n)); // the largest deposit works
    assert.equal(await k.channels.channelCount(), 1n);
  });

  test('openWithPermit opens in one transaction without approve, survives a front-run permit', async () => {
    const t = k.token;
    const amount = 500n;
    await mined(t.connect(k.alice).mint(k.alice.address, 2n * amount));
    const permit = async (value, deadline) => {
      const nonce = await t.nonces(k.alice.address);
      const domain = { name: 'Wattstream Test Token', version: '1', chainId: k.chainId, verifyingContract: await t.getAddress() };
      const types = { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] };
      return Signature.from(await k.alice.signTypedData(domain, types,
        { owner: k.alice.address, spender: await chAddr(), value, nonce, deadline }));
    };
    const deadline = (await k.now()) + 3600n;
    let s = await permit(amount, deadline);
    const r = await mined(k.channels.connect(k.alice).openWithPermit(k.bob.address, await t.getAddress(),
      k.session.address, amount, deadline, s.v, s.r, s.s));
    assert.equal(events(r, k.channels, 'ChannelOpened').length, 1);
    assert.equal(await t.balanceOf(await chAddr()), amount);
    assert.equal(await t.allowance(k.alice.address, await chAddr()), 0n);

    // someone submits the permit first: the open still goes through on the allowance
    s = await permit(amount, deadline);
    await mined(t.connect(k.carol).permit(k.alice.address, await chAddr(), amount, deadline, s.v, s.r, s.s));
    await mined(k.channels.connect(k.alice).openWithPermit(k.bob.address, await t.getAddress(),
      k.session.address, amount, deadline, s.v, s.r, s.s));
    assert.equal(await t.balanceOf(await chAddr()), 2n * amount);

    // a bad permit and no allowance: reverts in the transfer
    s = await permit(amount, deadline);
    await expectRevert(k.channels.connect(k.carol).openWithPermit(k.bob.address, await t.getAddress(),
      k.session.address, amount, deadline, s.v, s.r, s.s), 'ERC20InsufficientAllowance');
    await expectRevert(k.channels.connect(k.alice).openWithPermit(k.bob.address,
      '0x0000000000000000000000000000000000000000', k.session.address, amount, deadline, s.v, s.r, s.s), 'ZeroAddress');
  });
});

describe('topUp', () => {
  test('adds to the deposit and emits ChannelToppedUp', async () => {
    const { id } = await k.open({ amount: 100n });
    await mined(k.token.connect(k.alice).mint(k.alice.address, 50n));
    await mined(k.token.connect(k.alice).approve(await chAddr(), 50n));
    const r = await mined(k.channels.connect(k.alice).topUp(id, 50n));
    const [ev] = events(r, k.channels, 'ChannelToppedUp');
    assert.equal(ev.args.added, 50n);
    assert.equal(ev.args.deposit, 150n);
    assert.equal((await k.channels.getChannel(id)).deposit, 150n);
    assert.equal(await k.token.balanceOf(await chAddr()), 150n);
  });

  test('reverts: unknown channel, not the sender, zero, overflow, during close', async () => {
    const { id } = await k.open({ amount: 100n });
    await mined(k.token.connect(k.alice).mint(k.alice.address, 2n ** 128n));
    await mined(k.token.connect(k.alice).approve(await chAddr(), MaxUint256));
    await expectRevert(k.channels.connect(k.alice).topUp(keccakText('nope'), 1n), 'ChannelNotFound');
    await mined(k.token.connect(k.bob).mint(k.bob.address, 10n));
    await mined(k.token.connect(k.bob).approve(await chAddr(), 10n));
    await expectRevert(k.channels.connect(k.bob).topUp(id, 1n), 'NotSender');
    await expectRevert(k.channels.connect(k.alice).topUp(id, 0n), 'ZeroDeposit');
    await expectRevert(k.channels.connect(k.alice).topUp(id, 2n ** 128n - 100n), 'DepositOverflow');
    await mined(k.channels.connect(k.alice).topUp(id, 2n ** 128n - 101n)); // exactly the maximum
    assert.equal((await k.channels.getChannel(id)).deposit, 2n ** 128n - 1n);
    await mined(k.channels.connect(k.alice).requestClose(id));
    await expectRevert(k.channels.connect(k.alice).topUp(id, 1n), 'ChannelClosing');
  });
});

describe('claim', () => {
  test('partial claims pay the difference and keep the channel open', async () => {
    const { id } = await k.open({ amount: 1000n });
    const ch = k.channels.connect(k.bob);
    let r = await mined(ch.claim(id, 300n, k.voucher(k.session, id, 300n), false));
    let [ev] = events(r, k.channels, 'Claimed');
    assert.equal(ev.args.paid, 300n);
    assert.equal(ev.args.totalClaimed, 300n);
    assert.equal(events(r, k.channels, 'ChannelClosed').length, 0);
    assert.equal(await bal(k.token, k.bob), 300n);
    // the sender's own key is accepted too
    r = await mined(ch.claim(id, 450n, k.voucher(k.alice, id, 450n), false));
    [ev] = events(r, k.channels, 'Claimed');
    assert.equal(ev.args.paid, 150n);
    const c = await k.channels.getChannel(id);
    assert.equal(c.claimed, 450n);
    assert.equal(c.deposit, 1000n);
    assert.equal(await bal(k.token, k.bob), 450n);
    assert.equal(await k.token.balanceOf(await chAddr()), 550n);
  });

  test('replayed or older vouchers gain nothing', async () => {
    const { id } = await k.open({ amount: 1000n });
    const ch = k.channels.connect(k.bob);
    const v300 = k.voucher(k.session, id, 300n);
    const v200 = k.voucher(k.session, id, 200n);
    await mined(ch.claim(id, 300n, v300, false));
    await expectRevert(ch.claim(id, 300n, v300, false), 'NothingToClaim');
    await expectRevert(ch.claim(id, 200n, v200, false), 'NothingToClaim');
    assert.equal(await bal(k.token, k.bob), 300n);
    // a final claim with the old voucher pays nothing more but closes and refunds
    const r = await mined(ch.claim(id, 200n, v200, true));
    assert.equal(events(r, k.channels, 'Claimed').length, 0);
    const [closed] = events(r, k.channels, 'ChannelClosed');
    assert.equal(closed.args.claimed, 300n);
    assert.equal(closed.args.refunded, 700n);
    assert.equal(await bal(k.token, k.bob), 300n);
    assert.equal(await bal(k.token, k.alice), 700n);
  });

  test('final claim pays, refunds the rest, deletes the channel; the voucher is dead afterwards', async () => {
    const { id } = await k.open({ amount: 1000n });
    const v = k.voucher(k.session, id, 640n);
    const r = await mined(k.channels.connect(k.bob).claim(id, 640n, v, true));
    const [ev] = events(r, k.channels, 'ChannelClosed');
    assert.equal(ev.args.claimed, 640n);
    assert.equal(ev.args.refunded, 360n);
    assert.equal(await bal(k.token, k.bob), 640n);
    assert.equal(await bal(k.token, k.alice), 360n);
    assert.equal(await k.token.balanceOf(await chAddr()), 0n);
    assert.equal((await k.channels.getChannel(id)).sender, '0x0000000000000000000000000000000000000000');
    assert.equal(await k.channels.isValidVoucher(id, 640n, v), false);
    await expectRevert(k.channels.connect(k.bob).claim(id, 640n, v, false), 'ChannelNotFound');
    await expectRevert(k.channels.connect(k.bob).claim(id, 640n, v, true), 'ChannelNotFound');
    await expectRevert(k.channels.connect(k.alice).topUp(id, 1n), 'ChannelNotFound');
    await expectRevert(k.channels.connect(k.alice).requestClose(id), 'ChannelNotFound');
    await expectRevert(k.channels.connect(k.alice).settle(id), 'ChannelNotFound');
  });

  test('a voucher above the deposit pays at most the deposit, the rest after a top-up', async () => {
    const { id } = await k.open({ amount: 100n });
    const v = k.voucher(k.session, id, 10_000n);
    await mined(k.channels.connect(k.bob).claim(id, 10_000n, v, false));
    assert.equal(await bal(k.token, k.bob), 100n);
    await expectRevert(k.channels.connect(k.bob).claim(id, 10_000n, v, false), 'NothingToClaim');
    await mined(k.token.connect(k.alice).mint(k.alice.address, 50n));
    await mined(k.token.connect(k.alice).approve(await chAddr(), 50n));
    await mined(k.channels.connect(k.alice).topUp(id, 50n));
    const r = await mined(k.channels.connect(k.bob).claim(id, 10_000n, v, true));
    assert.equal(events(r, k.channels, 'ChannelClosed')[0].args.refunded, 0n);
    assert.equal(await bal(k.token, k.bob), 150n);
    assert.equal(await k.token.balanceOf(await chAddr()), 0n);
  });

  test('a channel without session key accepts only the sender key', async () => {
    const { id } = await k.open({ amount: 100n, key: '0x0000000000000000000000000000000000000000' });
    await expectRevert(k.channels.connect(k.bob).claim(id, 10n, k.voucher(k.session, id, 10n), false), 'InvalidVoucher');
    await mined(k.channels.connect(k.bob).claim(id, 10n, k.voucher(k.alice, id, 10n), false));
    assert.equal(await bal(k.token, k.bob), 10n);
  });

  test('reverts: unknown channel, claim by the sender or a stranger', async () => {
    const { id } = await k.open({ amount: 100n });
    const v = k.voucher(k.session, id, 10n);
    await expectRevert(k.channels.connect(k.bob).claim(keccakText('nope'), 10n, v, false), 'ChannelNotFound');
    await expectRevert(k.channels.connect(k.alice).claim(id, 10n, v, false), 'NotReceiver');
    await expectRevert(k.channels.connect(k.carol).claim(id, 10n, v, true), 'NotReceiver');
  });

  test('attacks on the voucher signature are refused', async () => {
    const { id } = await k.open({ amount: 1000n });
    const { id: other } = await k.open({ amount: 1000n });
    const ch = k.channels.connect(k.bob);
    const good = k.voucher(k.session, id, 100n);
    const bad = {
      'stranger key': k.voucher(k.stranger, id, 100n),
      'receiver key': k.voucher(k.bob, id, 100n),
      'high S': highS(good),
      'v = 0': withV(good, 0),
      'v = 1': withV(good, 1),
      'v = 29': withV(good, 29),
      '64 bytes': good.slice(0, 130),
      '66 bytes': good + '1b',
      empty: '0x',
      'r = 0': '0x' + '00'.repeat(32) + good.slice(66),
      's = 0': good.slice(0, 66) + '00'.repeat(32) + good.slice(130),
      'other channel': k.voucher(k.session, other, 100n),
      'other chain': signVoucher(k.session, voucherDomain(1n, k.channels.target), id, 100n),
      'other contract': signVoucher(k.session, voucherDomain(k.chainId, k.token.target), id, 100n),
      'other name': signVoucher(k.session, { ...k.domain, name: 'Wattstream2' }, id, 100n),
      'other version': signVoucher(k.session, { ...k.domain, version: '2' }, id, 100n),
    };
    for (const [what, sig] of Object.entries(bad)) {
      await assert.doesNotReject(expectRevert(ch.claim(id, 100n, sig, false), 'InvalidVoucher'), what);
      assert.equal(await k.channels.isValidVoucher(id, 100n, sig), false, what);
    }
    // amount changed after signing
    await expectRevert(ch.claim(id, 101n, good, false), 'InvalidVoucher');
    await expectRevert(ch.claim(id, 99n, good, false), 'InvalidVoucher');
    assert.equal(await bal(k.token, k.bob), 0n);
    assert.equal(await k.channels.isValidVoucher(id, 100n, good), true);
    await mined(ch.claim(id, 100n, good, false));
    assert.equal(await bal(k.token, k.bob), 100n);
  });

  test('a voucher signed for another deployment is refused there and here', async () => {
    const other = await k.deploy('WattstreamChannels', [86400]);
    const { id } = await k.open({ amount: 100n });
    const sigOther = signVoucher(k.session, voucherDomain(k.chainId, other.target), id, 50n);
    assert.equal(await k.channels.isValidVoucher(id, 50n, sigOther), false);
    await expectRevert(k.channels.connect(k.bob).claim(id, 50n, sigOther, true), 'InvalidVoucher');
  });
});

describe('claimMany', () => {
  test('claims many channels, one transfer per run of equal tokens', async () => {
    const t2 = await k.deploy('TestToken');
    const a = await k.open({ amount: 100n });
    const b = await k.open({ amount: 200n, from: k.dave });
    const c = await k.open({ amount: 300n, token: t2 });
    const claims = [
      { channelId: a.id, amount: 40n, signature: k.voucher(k.session, a.id, 40n), close: false },
      { channelId: b.id, amount: 150n, signature: k.voucher(k.session, b.id, 150n), close: true },
      { channelId: c.id, amount: 300n, signature: k.voucher(k.alice, c.id, 300n), close: true },
    ];
    const total = await k.channels.connect(k.bob).claimMany.staticCall(claims);
    assert.equal(total, 490n);
    const r = await mined(k.channels.connect(k.bob).claimMany(claims));
    assert.equal(await bal(k.token, k.bob), 190n);
    assert.equal(await bal(t2, k.bob), 300n);
    assert.equal(await bal(k.token, k.dave), 50n); // refund of b
    const toBob = (tok) => events(r, tok, 'Transfer').filter((e) => e.args.to === k.bob.address);
    assert.equal(toBob(k.token).length, 1, 'one aggregated transfer of token 1');
    assert.equal(toBob(t2).length, 1);
    assert.equal(events(r, k.channels, 'Claimed').length, 3);
    assert.equal(events(r, k.channels, 'ChannelClosed').length, 2);
    assert.equal((await k.channels.getChannel(a.id)).claimed, 40n);
    assert.equal((await k.channels.getChannel(b.id)).sender, '0x0000000000000000000000000000000000000000');
  });

  test('all or nothing: one bad entry reverts the whole batch', async () => {
    const a = await k.open({ amount: 100n });
    const b = await k.open({ amount: 100n });
    const good = { channelId: a.id, amount: 40n, signature: k.voucher(k.session, a.id, 40n), close: false };
    await expectRevert(k.channels.connect(k.bob).claimMany([]), 'EmptyBatch');
    await expectRevert(k.channels.connect(k.bob).claimMany([good,
      { channelId: b.id, amount: 40n, signature: k.voucher(k.stranger, b.id, 40n), close: false }]), 'InvalidVoucher');
    await expectRevert(k.channels.connect(k.bob).claimMany([good, good]), 'NothingToClaim');
    const carolCh = await k.open({ amount: 100n, to: k.carol });
    await expectRevert(k.channels.connect(k.bob).claimMany([good,
      { channelId: carolCh.id, amount: 1n, signature: k.voucher(k.session, carolCh.id, 1n), close: false }]), 'NotReceiver');
    assert.equal(await bal(k.token, k.bob), 0n);
    assert.equal((await k.channels.getChannel(a.id)).claimed, 0n);
    // the same channel twice with rising vouchers is fine
    await mined(k.channels.connect(k.bob).claimMany([good,
      { channelId: a.id, amount: 70n, signature: k.voucher(k.session, a.id, 70n), close: true }]));
    assert.equal(await bal(k.token, k.bob), 70n);
    assert.equal(await bal(k.token, k.alice), 30n);
  });
});

describe('disputes', () => {
  test('requestClose starts the challenge period; settle only after it', async () => {
    const { id } = await k.open({ amount: 1000n });
    await expectRevert(k.channels.connect(k.alice).settle(id), 'CloseNotRequested');
    await expectRevert(k.channels.connect(k.bob).requestClose(id), 'NotSender');
    await expectRevert(k.channels.connect(k.alice).requestClose(keccakText('nope')), 'ChannelNotFound');
    const r = await mined(k.channels.connect(k.alice).requestClose(id));
    const ts = BigInt((await k.provider.getBlock(r.blockNumber)).timestamp);
    const [ev] = events(r, k.channels, 'CloseRequested');
    assert.equal(ev.args.settleAfter, ts + DAY);
    assert.equal((await k.channels.getChannel(id)).closeRequestedAt, ts);
    await expectRevert(k.channels.connect(k.alice).requestClose(id), 'CloseAlreadyRequested');
    await expectRevert(k.channels.connect(k.alice).settle(id), 'ChallengePeriodActive');
    await k.setNextTimestamp(ts + DAY - 1n);
    await expectRevert(k.channels.connect(k.alice).settle(id), 'ChallengePeriodActive');
    await k.setNextTimestamp(ts + DAY);
    await expectRevert(k.channels.connect(k.bob).settle(id), 'NotSender');
    const s = await mined(k.channels.connect(k.alice).settle(id));
    const [closed] = events(s, k.channels, 'ChannelClosed');
    assert.equal(closed.args.claimed, 0n);
    assert.equal(closed.args.refunded, 1000n);
    assert.equal(await bal(k.token, k.alice), 1000n);
    await expectRevert(k.channels.connect(k.alice).settle(id), 'ChannelNotFound');
  });

  test('a close request answered in the challenge period always pays the receiver its voucher', async () => {
    for (const [deposit, voucher, final] of [[1000n, 1n, true], [1000n, 999n, false], [1000n, 1000n, true], [1000n, 5000n, false], [7n, 3n, true]]) {
      const { id } = await k.open({ amount: deposit });
      const r = await mined(k.channels.connect(k.alice).requestClose(id));
      const ts = BigInt((await k.provider.getBlock(r.blockNumber)).timestamp);
      const bobBefore = await bal(k.token, k.bob);
      const aliceBefore = await bal(k.token, k.alice);
      await k.setNextTimestamp(ts + DAY - 1n); // the last second of the period
      await mined(k.channels.connect(k.bob).claim(id, voucher, k.voucher(k.session, id, voucher), final));
      const due = voucher < deposit ? voucher : deposit;
      assert.equal(await bal(k.token, k.bob) - bobBefore, due);
      if (!final) {
        assert.equal((await k.channels.getChannel(id)).closeRequestedAt, ts, 'still closing');
        await k.setNextTimestamp(ts + DAY);
        await mined(k.channels.connect(k.alice).settle(id));
      } else {
        await expectRevert(k.channels.connect(k.alice).settle(id), 'ChannelNotFound');
      }
      assert.equal(await bal(k.token, k.alice) - aliceBefore, deposit - due);
    }
    assert.equal(await k.token.balanceOf(await chAddr()), 0n);
  });

  test('the receiver may still claim after the period until the sender settles', async () => {
    const { id } = await k.open({ amount: 100n });
    await mined(k.channels.connect(k.alice).requestClose(id));
    await k.increaseTime(DAY * 2n);
    await mined(k.channels.connect(k.bob).claim(id, 60n, k.voucher(k.session, id, 60n), false));
    await mined(k.channels.connect(k.alice).settle(id));
    assert.equal(await bal(k.token, k.bob), 60n);
    assert.equal(await bal(k.token, k.alice), 40n);
    // voucher after close
    await expectRevert(k.channels.connect(k.bob).claim(id, 100n, k.voucher(k.session, id, 100n), true), 'ChannelNotFound');
  });
});

describe('hostile tokens', () => {
  test('re-entrancy through a hostile token (as receiver and as sender) is blocked', async () => {
    const evil = await k.deploy('ReentrantToken');
    const ch = await chAddr();
    const I = k.channels.interface;
    // evil token contract is the receiver of alice's channel
    const { id } = await k.open({ token: evil, to: { address: evil.target }, amount: 1000n });
    const v100 = k.voucher(k.session, id, 100n);
    const v900 = k.voucher(k.session, id, 900n);
    await mined(evil.arm(ch, I.encodeFunctionData('claim', [id, 900n, v900, true])));
    await mined(evil.exec(ch, I.encodeFunctionData('claim', [id, 100n, v100, false])));
    assert.equal(await evil.attempts(), 1n);
    assert.equal(await evil.successes(), 0n);
    assert.equal(I.parseError(await evil.lastRevert()).name, 'ReentrancyGuardReentrantCall');
    assert.equal((await k.channels.getChannel(id)).claimed, 100n);
    assert.equal(await evil.balanceOf(ch), 900n);

    // evil token contract is the sender of a channel to bob, re-enters from the refund
    await mined(evil.mint(evil.target, 500n));
    await mined(evil.exec(evil.target, evil.interface.encodeFunctionData('approve', [ch, 500n])));
    await mined(evil.exec(ch, I.encodeFunctionData('open', [k.bob.address, evil.target, k.session.address, 500n])));
    const id2 = await k.channels.computeChannelId(evil.target, await k.channels.channelCount());
    await mined(evil.exec(ch, I.encodeFunctionData('requestClose', [id2])));
    await k.increaseTime(DAY);
    await mined(evil.arm(ch, I.encodeFunctionData('settle', [id2])));
    await mined(evil.exec(ch, I.encodeFunctionData('settle', [id2])));
    assert.equal(await evil.attempts(), 2n);
    assert.equal(await evil.successes(), 0n);
    assert.equal(await evil.balanceOf(evil.target), 500n + 100n); // refund once + the claim above
    assert.equal(await evil.balanceOf(ch), 900n); // alice's channel untouched
  });

  test('a fee-on-transfer token credits what the contract really received', async () => {
    const fee = await k.deploy('FeeOnTransferToken');
    const { id, receipt } = await k.open({ token: fee, amount: 1000n });
    assert.equal(events(receipt, k.channels, 'ChannelOpened')[0].args.deposit, 990n);
    assert.equal((await k.channels.getChannel(id)).deposit, 990n);
    await mined(fee.connect(k.alice).mint(k.alice.address, 100n));
    await mined(fee.connect(k.alice).approve(await chAddr(), 100n));
    await mined(k.channels.connect(k.alice).topUp(id, 100n));
    assert.equal((await k.channels.getChannel(id)).deposit, 1089n);
    assert.equal(await fee.balanceOf(await chAddr()), 1089n);
    await mined(k.channels.connect(k.bob).claim(id, 2000n, k.voucher(k.session, id, 2000n), true));
    assert.equal(await fee.balanceOf(await chAddr()), 0n);
  });
});
