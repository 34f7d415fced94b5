// OfferRegistry on a private anvil: publish (by the station or a relayer), update by
// a higher nonce, withdraw, the live check, and every revert: bad signature (stranger,
// tampered field, other chain/contract, high S, malformed), stale nonce, zero
// addresses, bad terms, bad validity, over-long fields.
import { describe, test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { MaxUint256, TypedDataEncoder, Wallet, id as keccakText } from 'ethers';
import { listLiveOffers } from '../lib/offers.mjs';
import { makeKit, expectRevert, mined, events, highS, withV, offerDomain, OFFER_TYPES, OFFER_TYPE_STRING } from '../lib/testkit.mjs';

let k;
let snap;
let station;
before(async () => { k = await makeKit(); await k.fresh(); station = new Wallet(k.carol.privateKey, k.provider); });
after(async () => { await k?.close(); });
beforeEach(async () => { snap = await k.snapshot(); });
afterEach(async () => { await k.revert(snap); });

const sign = (w, o, d) => w.signingKey.sign(TypedDataEncoder.hash(d ?? offerDomain(k.chainId, k.registry.target), OFFER_TYPES, o)).serialized;

async function offer(over = {}) {
  const now = await k.now();
  return {
    station: station.address, payee: k.bob.address, token: k.token.target, pricePerKWh: 350_000n, incrementWh: 100,
    prepaidIncrements: 2, graceSeconds: 30, validFrom: now - 10n, validUntil: now + 86400n, location: 'u33dc0',
    endpoint: 'wss://station.example/wallet', nonce: 1n, ...over,
  };
}

describe('OfferRegistry', () => {
  test('type hash, domain and digest match an independent encoder', async () => {
    assert.equal(await k.registry.OFFER_TYPEHASH(), keccakText(OFFER_TYPE_STRING));
    const d = offerDomain(k.chainId, k.registry.target);
    assert.equal(await k.registry.DOMAIN_SEPARATOR(), TypedDataEncoder.hashDomain(d));
    const o = await offer();
    assert.equal(await k.registry.hashOffer(o), TypedDataEncoder.hashStruct('Offer', OFFER_TYPES, o));
    assert.equal(await k.registry.offerDigest(o), TypedDataEncoder.hash(d, OFFER_TYPES, o));
  });

  test('a relayer publishes a station-signed offer; events carry it; a higher nonce supersedes', async () => {
    const o1 = await offer();
    const r = await mined(k.registry.connect(k.dave).publish(o1, sign(station, o1)));
    const [ev] = events(r, k.registry, 'OfferPublished');
    assert.equal(ev.args.station, station.address);
    assert.equal(ev.args.payee, k.bob.address);
    assert.equal(ev.args.token, k.token.target);
    assert.equal(ev.args.offer.endpoint, o1.endpoint);
    assert.equal(ev.args.offer.pricePerKWh, o1.pricePerKWh);
    assert.equal(ev.args.offerHash, await k.registry.hashOffer(o1));
    assert.equal(await k.registry.isLive(o1), true);
    const [nonce, validUntil, hash] = await k.registry.latest(station.address);
    assert.deepEqual([nonce, validUntil, hash], [1n, o1.validUntil, ev.args.offerHash]);

    await expectRevert(k.registry.publish(o1, sign(station, o1)), 'StaleNonce'); // replay
    const o2 = await offer({ nonce: 5n, pricePerKWh: 400_000n });
    await mined(k.registry.connect(station).publish(o2, sign(station, o2)));
    assert.equal(await k.registry.isLive(o1), false);
    assert.equal(await k.registry.isLive(o2), true);
    const o3 = await offer({ nonce: 4n });
    await expectRevert(k.registry.publish(o3, sign(station, o3)), 'StaleNonce');
    // wallets list offers from events: the newest per station wins
    const logs = await k.registry.queryFilter(k.registry.filters.OfferPublished(station.address));
    assert.equal(logs.length, 2);
    assert.equal(logs[1].args.offer.nonce, 5n);
  });

  test('withdraw ends the live offer and burns the nonces up to it', async () => {
    const o1 = await offer({ nonce: 3n });
    await mined(k.registry.publish(o1, sign(station, o1)));
    await expectRevert(k.registry.connect(station).withdraw(3n), 'StaleNonce');
    const r = await mined(k.registry.connect(station).withdraw(10n));
    assert.equal(events(r, k.registry, 'OfferWithdrawn')[0].args.nonce, 10n);
    assert.equal(await k.registry.isLive(o1), false);
    const o2 = await offer({ nonce: 10n });
    await expectRevert(k.registry.publish(o2, sign(station, o2)), 'StaleNonce');
    const o3 = await offer({ nonce: 11n });
    await mined(k.registry.publish(o3, sign(station, o3)));
    assert.equal(await k.registry.isLive(o3), true);
  });

  test('an offer is live only inside its validity window', async () => {
    const now = await k.now();
    const o = await offer({ validFrom: now + 1000n, validUntil: now + 2000n });
    await mined(k.registry.publish(o, sign(station, o)));
    assert.equal(await k.registry.isLive(o), false);
    await k.increaseTime(1100);
    assert.equal(await k.registry.isLive(o), true);
    await k.increaseTime(1000);
    assert.equal(await k.registry.isLive(o), false);
  });

  test('bad signatures are refused', async () => {
    const o = await offer();
    const g = sign(station, o);
    const bad = {
      stranger: sign(k.stranger, o),
      'other chain': sign(station, o, offerDomain(1n, k.registry.target)),
      'other contract': sign(station, o, offerDomain(k.chainId, k.channels.target)),
      'high S': highS(g),
      'v = 1': withV(g, 1),
      '64 bytes': g.slice(0, 130),
      '66 bytes': g + '00',
      'r = 0': '0x' + '00'.repeat(32) + g.slice(66),
    };
    for (const [what, s] of Object.entries(bad)) {
      await assert.doesNotReject(expectRevert(k.registry.publish(o, s), 'InvalidOfferSignature'), what);
    }
    for (const field of ['pricePerKWh', 'incrementWh', 'graceSeconds', 'nonce']) {
      await expectRevert(k.registry.publish({ ...o, [field]: BigInt(o[field]) + 1n }, g), 'InvalidOfferSignature');
    }
    await expectRevert(k.registry.publish({ ...o, endpoint: 'wss://evil.example/' }, g), 'InvalidOfferSignature');
    await expectRevert(k.registry.publish({ ...o, payee: k.dave.address }, g), 'InvalidOfferSignature');
    await mined(k.registry.publish(o, g));
  });

  test('bad fields are refused before the signature', async () => {
    const zero = '0x0000000000000000000000000000000000000000';
    const now = await k.now();
    const cases = [
      [{ station: zero }, 'ZeroAddress'], [{ payee: zero }, 'ZeroAddress'], [{ token: zero }, 'ZeroAddress'],
      [{ pricePerKWh: 0n }, 'InvalidTerms'], [{ incrementWh: 0 }, 'InvalidTerms'], [{ prepaidIncrements: 0 }, 'InvalidTerms'],
      [{ validFrom: now + 10n, validUntil: now + 10n }, 'InvalidValidity'],
      [{ validFrom: 0n, validUntil: now - 1n }, 'InvalidValidity'],
      [{ location: 'x'.repeat(13) }, 'FieldTooLong'], [{ endpoint: '' }, 'FieldTooLong'],
      [{ endpoint: 'w'.repeat(257) }, 'FieldTooLong'],
    ];
    for (const [over, err] of cases) {
      const o = await offer(over);
      await assert.doesNotReject(expectRevert(k.registry.publish(o, sign(station, o)), err), JSON.stringify(over, (_, v) => typeof v === 'bigint' ? v.toString() : v));
    }
    const edge = await offer({ location: 'x'.repeat(12), endpoint: 'w'.repeat(256), pricePerKWh: MaxUint256 });
    await mined(k.registry.publish(edge, sign(station, edge)));
  });

  test('listLiveOffers: newest per station, withdrawn and expired ones dropped, sorted by price', async () => {
    const s2 = new Wallet(k.dave.privateKey, k.provider);
    const s3 = new Wallet(k.alice.privateKey, k.provider);
    const now = await k.now();
    const a1 = await offer({ pricePerKWh: 500n, nonce: 1n });
    const a2 = await offer({ pricePerKWh: 450n, nonce: 2n });
    const b1 = { ...(await offer({ pricePerKWh: 300n })), station: s2.address };
    const c1 = { ...(await offer({ pricePerKWh: 100n, validUntil: now + 100n })), station: s3.address };
    await mined(k.registry.publish(a1, sign(station, a1)));
    await mined(k.registry.publish(a2, sign(station, a2)));
    await mined(k.registry.publish(b1, sign(s2, b1)));
    await mined(k.registry.publish(c1, sign(s3, c1)));
    let live = await listLiveOffers(k.registry);
    assert.deepEqual(live.map((o) => [o.station, o.pricePerKWh]),
      [[s3.address, 100n], [s2.address, 300n], [station.address, 450n]]);
    assert.equal(live[2].endpoint, a2.endpoint);
    await k.increaseTime(200); // c1 expires
    await mined(k.registry.connect(s2).withdraw(9n)); // b1 withdrawn
    live = await listLiveOffers(k.registry);
    assert.deepEqual(live.map((o) => o.station), [station.address]);
    assert.deepEqual(await listLiveOffers(k.registry, { token: k.channels.target }), []);
  });
});
