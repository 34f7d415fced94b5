// Exports EIP-712 test vectors for the C verifier and signer: vouchers
// (tests/vectors/eip712-vouchers.json) and offers (tests/vectors/eip712-offers.json).
// It starts its own anvil, deploys the contracts deterministically (anvil dev key 0,
// fresh chain, so the addresses are always the same), opens real channels, signs
// with fixed test keys, tampers, and asks the deployed contracts for every verdict:
// `valid` is what isValidVoucher / offerSigner say (and, for vouchers, whether the
// receiver's claim would go through), never set by hand. Digests are read from the
// contract and cross-checked with ethers; `recovered` is what the ecrecover
// precompile (address 0x01) returns for the contract's digest and the signature's
// r, s, v, or null when it returns nothing or the signature is not 65 bytes.
// Output is deterministic: running it again gives the same files.
// Cost: one anvil, ~60 JSON-RPC calls, a second or two.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Contract, MaxUint256, Signature, TypedDataEncoder, Wallet, getAddress, id as keccakText, concat } from 'ethers';
import { startAnvil, DEV_KEYS } from '../lib/anvil.mjs';
import { makeProvider, CONTRACTS_DIR } from '../lib/chain.mjs';
import { deploy } from './deploy.mjs';
import {
  FIXED_KEYS, VOUCHER_TYPES, OFFER_TYPES, VOUCHER_TYPE_STRING, OFFER_TYPE_STRING, SECP256K1_N,
  voucherDomain, offerDomain, signVoucher, highS, withV, mined,
} from '../lib/testkit.mjs';

export const VECTORS_DIR = path.resolve(CONTRACTS_DIR, '..', 'tests', 'vectors');
const GENERATED_BY = 'contracts/scripts/vectors.mjs';

const hex32 = (n) => '0x' + BigInt(n).toString(16).padStart(64, '0');

/** What the ecrecover precompile returns for (digest, 65-byte sig), or null. */
async function precompileRecover(provider, digest, sigHex) {
  if ((sigHex.length - 2) / 2 !== 65) return null;
  const r = '0x' + sigHex.slice(2, 66);
  const s = '0x' + sigHex.slice(66, 130);
  const v = BigInt('0x' + sigHex.slice(130, 132));
  const data = concat([digest, hex32(v), r, s]);
  const out = await provider.call({ to: '0x0000000000000000000000000000000000000001', data });
  if (!out || out === '0x') return null;
  return getAddress('0x' + out.slice(26));
}

/** r = 0 / s = 0 / r = n variants of a 65-byte signature. */
const setR = (sig, r) => '0x' + hex32(r).slice(2) + sig.slice(66);
const setS = (sig, s) => sig.slice(0, 66) + hex32(s).slice(2) + sig.slice(130);
/** EIP-2098 compact form r || (yParity << 255 | s). */
const compact = (sig) => Signature.from(sig).compactSerialized;

/**
 * Deploys on a fresh anvil at `url` (chain 31337) and builds both vector sets.
 * @returns {Promise<{vouchers: object, offers: object}>}
 */
export async function generate(url) {
  const d = await deploy({ rpcUrl: url, key: DEV_KEYS[0], challengePeriod: 86400, testToken: true });
  const provider = makeProvider(url);
  try {
    const chainId = BigInt(d.chainId);
    const sender = new Wallet(DEV_KEYS[1], provider);
    const receiver = new Wallet(DEV_KEYS[2], provider);
    const session = new Wallet(FIXED_KEYS.sessionKey);
    const stranger = new Wallet(FIXED_KEYS.stranger);
    const station = new Wallet(FIXED_KEYS.station);
    const channels = new Contract(d.contracts.channels.address, d.contracts.channels.abi, provider);
    const registry = new Contract(d.contracts.registry.address, d.contracts.registry.abi, provider);
    const token = new Contract(d.contracts.token.address, d.contracts.token.abi, sender);

    // two real channels sender -> receiver with the session key
    const deposit = 50_000_000n; // 50 tokens at 6 decimals
    await mined(token.mint(sender.address, 2n * deposit));
    await mined(token.approve(d.contracts.channels.address, 2n * deposit));
    const openCh = async () => {
      const r = await mined(channels.connect(sender).open(receiver.address, token.target, session.address, deposit));
      return channels.interface.parseLog(r.logs.find((l) => l.address === channels.target && channels.interface.parseLog(l)?.name === 'ChannelOpened')).args.channelId;
    };
    const chA = await openCh();
    const chB = await openCh();

    const dom = voucherDomain(chainId, channels.target);
    const domJson = (x) => ({ name: x.name, version: x.version, chainId: x.chainId.toString(), verifyingContract: x.verifyingContract });
    const domainSeparator = await channels.DOMAIN_SEPARATOR();
    if (domainSeparator !== TypedDataEncoder.hashDomain(dom)) throw new Error('domain separator: contract and ethers disagree');
    const typeHash = await channels.VOUCHER_TYPEHASH();
    if (typeHash !== keccakText(VOUCHER_TYPE_STRING)) throw new Error('voucher type hash mismatch');

    const amt = 1_250_000n; // 1.25 tokens
    const good = signVoucher(session, dom, chA, amt);
    const goodV = Number('0x' + good.slice(130));
    const defs = [
      ['valid-session-key', chA, amt, good, 'ok'],
      ['valid-sender-key', chA, amt, signVoucher(sender, dom, chA, amt), 'ok'],
      ['valid-amount-zero', chA, 0n, signVoucher(session, dom, chA, 0n), 'ok'],
      ['valid-amount-one', chA, 1n, signVoucher(session, dom, chA, 1n), 'ok'],
      ['valid-amount-max', chA, MaxUint256, signVoucher(session, dom, chA, MaxUint256), 'ok'],
      ['valid-other-channel-own-voucher', chB, 7n, signVoucher(session, dom, chB, 7n), 'ok'],
      ['high-s', chA, amt, highS(good), 'high-s'],
      ['high-s-amount-max', chA, MaxUint256, highS(signVoucher(session, dom, chA, MaxUint256)), 'high-s'],
      ['v-0-same-parity', chA, amt, withV(good, goodV - 27), 'bad-v'],
      ['v-1-other-parity', chA, amt, withV(good, 28 - goodV), 'bad-v'],
      ['v-29', chA, amt, withV(good, 29), 'bad-v'],
      ['v-flipped', chA, amt, withV(good, goodV === 27 ? 28 : 27), 'stranger'],
      ['wrong-chain', chA, amt, signVoucher(session, { ...dom, chainId: 1n }, chA, amt), 'wrong-chain'],
      ['wrong-contract', chA, amt, signVoucher(session, { ...dom, verifyingContract: registry.target }, chA, amt), 'wrong-contract'],
      ['wrong-domain-name', chA, amt, signVoucher(session, { ...dom, name: 'wattstream' }, chA, amt), 'wrong-domain'],
      ['wrong-domain-version', chA, amt, signVoucher(session, { ...dom, version: '2' }, chA, amt), 'wrong-domain'],
      ['wrong-channel', chA, amt, signVoucher(session, dom, chB, amt), 'wrong-channel'],
      ['amount-changed-up', chA, amt + 1n, good, 'amount-changed'],
      ['amount-changed-down', chA, amt - 1n, good, 'amount-changed'],
      ['stranger-key', chA, amt, signVoucher(stranger, dom, chA, amt), 'stranger'],
      ['receiver-key', chA, amt, signVoucher(receiver, dom, chA, amt), 'stranger'],
      ['truncated-64-bytes', chA, amt, good.slice(0, 130), 'truncated'],
      ['compact-eip2098-64-bytes', chA, amt, compact(good), 'truncated'],
      ['extra-byte-66-bytes', chA, amt, good + '00', 'too-long'],
      ['empty', chA, amt, '0x', 'truncated'],
      ['zero-r', chA, amt, setR(good, 0n), 'zero-r'],
      ['zero-s', chA, amt, setS(good, 0n), 'zero-s'],
      ['r-equals-n', chA, amt, setR(good, SECP256K1_N), 'r-out-of-range'],
      ['s-equals-half-n-plus-one', chA, amt, setS(good, SECP256K1_N / 2n + 1n), 'high-s'],
      ['unknown-channel', keccakText('no such channel'), amt, signVoucher(session, dom, keccakText('no such channel'), amt), 'no-channel'],
    ];

    const cases = [];
    for (const [name, channelId, amount, signature, reason] of defs) {
      const structHash = TypedDataEncoder.hashStruct('Voucher', VOUCHER_TYPES, { channelId, amount });
      const digest = await channels.voucherDigest(channelId, amount);
      if (digest !== TypedDataEncoder.hash(dom, VOUCHER_TYPES, { channelId, amount })) throw new Error(`${name}: digest mismatch`);
      const valid = await channels.isValidVoucher(channelId, amount, signature);
      let claimOk = true;
      try {
        await channels.connect(receiver).claim.staticCall(channelId, amount, signature, true);
      } catch {
        claimOk = false;
      }
      if (claimOk !== valid) throw new Error(`${name}: isValidVoucher says ${valid} but a claim ${claimOk ? 'passes' : 'fails'}`);
      if (valid !== (reason === 'ok')) throw new Error(`${name}: contract says valid=${valid}, expected reason ${reason}`);
      cases.push({
        name,
        domain: domJson(dom),
        domainSeparator,
        typeHash,
        voucher: { channelId, amount: amount.toString() },
        structHash,
        digest,
        signature,
        recovered: await precompileRecover(provider, digest, signature),
        sessionKey: session.address,
        sender: sender.address,
        valid,
        reason,
      });
    }
    const vouchers = {
      description: 'EIP-712 voucher vectors for wattstream payment channels. `domain`, `domainSeparator`, `structHash` and ' +
        '`digest` are those of the verifier (the deployed WattstreamChannels on anvil chain 31337) for `voucher`; ' +
        '`signature` may have been made over other data (tampered cases) or be malformed. A verifier must accept exactly ' +
        'when `valid`: signature of 65 bytes r||s||v, v in {27,28}, 0 < r < n, 0 < s <= n/2, recovering to `sessionKey` ' +
        'or `sender`. `recovered` is the raw ecrecover precompile output (null: none, or not 65 bytes). `valid` comes from ' +
        'the contract (isValidVoucher and a claim attempt), not from this script. Deposits: 50000000 per channel.',
      generatedBy: GENERATED_BY,
      voucherType: VOUCHER_TYPE_STRING,
      chainId: chainId.toString(),
      channels: { address: channels.target, channelA: chA, channelB: chB, channelIdDerivation:
        'keccak256(abi.encode(uint256 chainId, address channelsContract, address sender, uint256 counter))' },
      cases,
    };
    return { vouchers, offers: await offerVectors({ provider, chainId, registry, channels, token, station, stranger, receiver }) };
  } finally {
    provider.destroy();
  }
}

async function offerVectors({ provider, chainId, registry, channels, token, station, stranger, receiver }) {
  const dom = offerDomain(chainId, registry.target);
  const domainSeparator = await registry.DOMAIN_SEPARATOR();
  if (domainSeparator !== TypedDataEncoder.hashDomain(dom)) throw new Error('offer domain separator mismatch');
  const typeHash = await registry.OFFER_TYPEHASH();
  if (typeHash !== keccakText(OFFER_TYPE_STRING)) throw new Error('offer type hash mismatch');
  const sign = (w, o, d = dom) => w.signingKey.sign(TypedDataEncoder.hash(d, OFFER_TYPES, o)).serialized;
  const base = {
    station: station.address,
    payee: receiver.address,
    token: token.target,
    pricePerKWh: 350_000n, // 0.35 token per kWh at 6 decimals
    incrementWh: 100,
    prepaidIncrements: 2,
    graceSeconds: 30,
    validFrom: 1_767_225_600n, // 2026-01-01T00:00:00Z
    validUntil: 1_798_761_600n, // 2027-01-01T00:00:00Z
    location: 'u33dc0',
    endpoint: 'wss://station.example/wallet',
    nonce: 1n,
  };
  const second = { ...base, pricePerKWh: 420_000n, incrementWh: 250, prepaidIncrements: 1, graceSeconds: 60,
    location: '', endpoint: 'https://[::1]:8443/wattstream/wallet?connector=2', nonce: 2n };
  const bigNumbers = { ...base, pricePerKWh: MaxUint256, incrementWh: 0xffffffff, prepaidIncrements: 0xffffffff,
    graceSeconds: 0xffffffff, validFrom: 0n, validUntil: 2n ** 64n - 1n, location: 'zzzzzzzzzzzz',
    endpoint: 'wss://b\u00fccher.example/\u26a1', nonce: 2n ** 64n - 1n };
  const g = sign(station, base);
  const gV = Number('0x' + g.slice(130));
  const defs = [
    ['valid-basic', base, g, 'ok'],
    ['valid-update-empty-location', second, sign(station, second), 'ok'],
    ['valid-extreme-values-utf8-endpoint', bigNumbers, sign(station, bigNumbers), 'ok'],
    ['price-changed', { ...base, pricePerKWh: base.pricePerKWh - 1n }, g, 'field-changed'],
    ['endpoint-changed', { ...base, endpoint: 'wss://evil.example/wallet' }, g, 'field-changed'],
    ['payee-changed', { ...base, payee: stranger.address }, g, 'field-changed'],
    ['nonce-changed', { ...base, nonce: 2n }, g, 'field-changed'],
    ['location-changed', { ...base, location: 'u33dc1' }, g, 'field-changed'],
    ['wrong-chain', base, sign(station, base, { ...dom, chainId: 1n }), 'wrong-chain'],
    ['wrong-contract', base, sign(station, base, { ...dom, verifyingContract: channels.target }), 'wrong-contract'],
    ['voucher-domain-name', base, sign(station, base, { ...dom, name: 'Wattstream' }), 'wrong-domain'],
    ['stranger-key', base, sign(stranger, base), 'stranger'],
    ['high-s', base, highS(g), 'high-s'],
    ['v-0-same-parity', base, withV(g, gV - 27), 'bad-v'],
    ['truncated-64-bytes', base, g.slice(0, 130), 'truncated'],
    ['zero-r', base, setR(g, 0n), 'zero-r'],
  ];
  const ser = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? v : v.toString()]));
  const cases = [];
  for (const [name, offer, signature, reason] of defs) {
    const structHash = await registry.hashOffer(offer);
    if (structHash !== TypedDataEncoder.hashStruct('Offer', OFFER_TYPES, offer)) throw new Error(`${name}: offer struct hash mismatch`);
    const digest = await registry.offerDigest(offer);
    if (digest !== TypedDataEncoder.hash(dom, OFFER_TYPES, offer)) throw new Error(`${name}: offer digest mismatch`);
    const signer = await registry.offerSigner(offer, signature);
    const valid = signer === offer.station;
    if (valid !== (reason === 'ok')) throw new Error(`${name}: contract says valid=${valid}, expected reason ${reason}`);
    cases.push({ name, offer: ser(offer), structHash, digest, signature,
      recovered: await precompileRecover(provider, digest, signature), valid, reason });
  }
  return {
    description: 'EIP-712 offer vectors for the wattstream OfferRegistry (anvil chain 31337). `structHash` and `digest` are ' +
      'those of `offer` under `domain`; `signature` may have been made over other data or be malformed. An offer signature ' +
      'is valid when it is 65 bytes r||s||v, v in {27,28}, 0 < r < n, 0 < s <= n/2, and recovers to offer.station; ' +
      '`valid` is what the deployed registry\'s offerSigner says. Strings are hashed as keccak256 of their UTF-8 bytes; ' +
      'numbers are decimal strings. (Publishing also checks validity times, nonce order and field limits; see docs/contracts.md.)',
    generatedBy: GENERATED_BY,
    offerType: OFFER_TYPE_STRING,
    domain: { name: dom.name, version: dom.version, chainId: chainId.toString(), verifyingContract: dom.verifyingContract },
    domainSeparator,
    typeHash,
    cases,
  };
}

/** Writes both files into `dir` (default tests/vectors/); returns their paths. */
export async function writeVectors(dir = VECTORS_DIR) {
  const chain = await startAnvil({ chainId: 31337 });
  try {
    const { vouchers, offers } = await generate(chain.url);
    fs.mkdirSync(dir, { recursive: true });
    const pv = path.join(dir, 'eip712-vouchers.json');
    const po = path.join(dir, 'eip712-offers.json');
    fs.writeFileSync(pv, JSON.stringify(vouchers, null, 2) + '\n');
    fs.writeFileSync(po, JSON.stringify(offers, null, 2) + '\n');
    return [pv, po];
  } finally {
    await chain.stop();
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    for (const p of await writeVectors()) console.log(p);
  } catch (e) {
    console.error(`vectors: ${e.stack || e.message}`);
    process.exit(1);
  }
}
