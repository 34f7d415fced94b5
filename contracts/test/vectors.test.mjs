// The committed EIP-712 vectors (tests/vectors/eip712-*.json) against the contracts:
// regenerating them on a fresh anvil gives the same files byte for byte, and for
// every case the deployed contract's digest, verdict and claim outcome agree with
// the file, and the ecrecover precompile returns `recovered`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Contract, TypedDataEncoder, Wallet, getAddress, concat } from 'ethers';
import { startAnvil, DEV_KEYS } from '../lib/anvil.mjs';
import { artifact, makeProvider } from '../lib/chain.mjs';
import { generate, VECTORS_DIR } from '../scripts/vectors.mjs';
import { VOUCHER_TYPES, OFFER_TYPES } from '../lib/testkit.mjs';

const load = (f) => JSON.parse(fs.readFileSync(path.join(VECTORS_DIR, f), 'utf8'));
let chain;
let provider;
let fresh;

before(async () => {
  chain = await startAnvil();
  fresh = await generate(chain.url);
  provider = makeProvider(chain.url);
});
after(async () => { provider?.destroy(); await chain?.stop(); });

async function ecrecover(digest, sig) {
  if ((sig.length - 2) / 2 !== 65) return null;
  const v = '0x' + sig.slice(130).padStart(64, '0');
  const out = await provider.call({ to: '0x0000000000000000000000000000000000000001',
    data: concat([digest, v, '0x' + sig.slice(2, 66), '0x' + sig.slice(66, 130)]) });
  return out === '0x' ? null : getAddress('0x' + out.slice(26));
}

test('committed vectors are up to date (npm run vectors regenerates them identically)', () => {
  assert.deepEqual(load('eip712-vouchers.json'), JSON.parse(JSON.stringify(fresh.vouchers)));
  assert.deepEqual(load('eip712-offers.json'), JSON.parse(JSON.stringify(fresh.offers)));
});

test('voucher vectors: the contract agrees with every case', async () => {
  const v = load('eip712-vouchers.json');
  assert.equal(v.voucherType, 'Voucher(bytes32 channelId,uint256 amount)');
  assert.ok(v.cases.length >= 25);
  const names = new Set(v.cases.map((c) => c.reason));
  for (const r of ['ok', 'high-s', 'bad-v', 'wrong-chain', 'wrong-contract', 'wrong-channel', 'amount-changed',
    'stranger', 'truncated', 'too-long', 'zero-r', 'zero-s']) assert.ok(names.has(r), `a case for ${r}`);
  const receiver = new Wallet(DEV_KEYS[2], provider);
  for (const c of v.cases) {
    const ch = new Contract(c.domain.verifyingContract, artifact('WattstreamChannels').abi, provider);
    const domain = { ...c.domain, chainId: BigInt(c.domain.chainId) };
    const voucher = { channelId: c.voucher.channelId, amount: BigInt(c.voucher.amount) };
    assert.equal(await ch.DOMAIN_SEPARATOR(), c.domainSeparator, c.name);
    assert.equal(TypedDataEncoder.hashDomain(domain), c.domainSeparator, c.name);
    assert.equal(TypedDataEncoder.hashStruct('Voucher', VOUCHER_TYPES, voucher), c.structHash, c.name);
    assert.equal(await ch.voucherDigest(voucher.channelId, voucher.amount), c.digest, c.name);
    assert.equal(await ch.isValidVoucher(voucher.channelId, voucher.amount, c.signature), c.valid, c.name);
    let claimOk = true;
    try {
      await ch.connect(receiver).claim.staticCall(voucher.channelId, voucher.amount, c.signature, false);
    } catch (e) {
      claimOk = false;
    }
    // a partial claim of amount 0 pays nothing and reverts NothingToClaim even when valid
    if (voucher.amount !== 0n) assert.equal(claimOk, c.valid, `${c.name}: claim`);
    assert.equal(await ecrecover(c.digest, c.signature), c.recovered, `${c.name}: ecrecover`);
    const signer = await ch.voucherSigner(voucher.channelId, voucher.amount, c.signature);
    if (c.valid) assert.ok([c.sessionKey, c.sender].includes(signer), c.name);
    else assert.ok(![c.sessionKey, c.sender].includes(signer) || c.reason === 'no-channel', c.name);
  }
});

test('offer vectors: the registry agrees with every case', async () => {
  const o = load('eip712-offers.json');
  const reg = new Contract(o.domain.verifyingContract, artifact('OfferRegistry').abi, provider);
  assert.equal(await reg.DOMAIN_SEPARATOR(), o.domainSeparator);
  assert.equal(await reg.OFFER_TYPEHASH(), o.typeHash);
  assert.ok(o.cases.some((c) => c.valid) && o.cases.some((c) => !c.valid));
  for (const c of o.cases) {
    assert.equal(await reg.hashOffer(c.offer), c.structHash, c.name);
    assert.equal(TypedDataEncoder.hashStruct('Offer', OFFER_TYPES, c.offer), c.structHash, c.name);
    assert.equal(await reg.offerDigest(c.offer), c.digest, c.name);
    const signer = await reg.offerSigner(c.offer, c.signature);
    assert.equal(signer === getAddress(c.offer.station), c.valid, c.name);
    assert.equal(await ecrecover(c.digest, c.signature), c.recovered, `${c.name}: ecrecover`);
  }
});
