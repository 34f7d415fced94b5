#!/usr/bin/env node
// gen-eth-kat.mjs: writes tests/vectors/eth-kat.json, the known answers the C
// Ethereum primitives are tested on, computed by ethers v6 (an independent
// implementation): Keccak-256, keys and addresses, RFC 6979 signatures,
// EIP-55, ABI and RLP encodings, EIP-712 vouchers and signed EIP-1559
// transactions.  Every input is fixed, so rerunning gives the same file.
//
// ethers is not a dependency of the repository: install it in a scratch
// folder and point ETHERS_DIR at it, e.g.
//   mkdir -p /tmp/ethkat && (cd /tmp/ethkat && npm install ethers@6.17.0)
//   ETHERS_DIR=/tmp/ethkat node tests/vectors/gen-eth-kat.mjs
// Without ETHERS_DIR it tries contracts/node_modules.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const base = process.env.ETHERS_DIR || join(here, '..', '..', 'contracts');
const require = createRequire(join(base, 'package.json'));
const ethers = require('ethers');
const {
  keccak256, toUtf8Bytes, hexlify, getBytes, Wallet, SigningKey, computeAddress,
  getAddress, AbiCoder, id, encodeRlp, toBeArray, TypedDataEncoder, Transaction,
  Signature, recoverAddress, zeroPadValue, toBeHex, concat,
} = ethers;

const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const HALF_N = N >> 1n;
const label = (s) => keccak256(toUtf8Bytes(s)); // deterministic 32-byte values
const bytes = (n, seed) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + 3) & 0xff;
  return hexlify(out);
};

// Private keys: small, the largest valid (n-1), anvil's well-known account 0,
// and a few derived from labels.
const privateKeys = [
  toBeHex(1n, 32),
  toBeHex(N - 1n, 32),
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  ...[0, 1, 2, 3].map((i) => label(`wattstream kat key ${i}`)),
];

// ---- keccak ----
const keccakInputs = [
  '0x', hexlify(toUtf8Bytes('abc')), hexlify(toUtf8Bytes('hello world')),
  bytes(135, 1), bytes(136, 2), bytes(137, 3), bytes(200, 4), bytes(272, 5), bytes(1000, 6),
];
const keccak = keccakInputs.map((input) => ({ input, hash: keccak256(input) }));

// ---- keys ----
const keys = privateKeys.map((pk) => {
  const sk = new SigningKey(pk);
  return { privateKey: pk, publicKey: sk.publicKey, address: computeAddress(sk.publicKey) };
});

// ---- signatures of fixed digests ----
const signatures = [];
privateKeys.forEach((pk, i) => {
  for (const d of [label(`digest ${i}`), toBeHex(0n, 32), toBeHex(N + 5n, 32)]) {
    const sig = new SigningKey(pk).sign(d);
    signatures.push({ privateKey: pk, digest: d, signature: sig.serialized,
                      address: recoverAddress(d, sig) });
  }
});

// ---- EIP-55 ----
const eip55 = [
  ...keys.map((k) => k.address),
  '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC',
  '0x0000000000000000000000000000000000000000',
  ...[0, 1, 2, 3, 4, 5].map((i) => getAddress('0x' + label(`addr ${i}`).slice(26))),
].map((a) => ({ lower: a.toLowerCase(), checksummed: getAddress(a) }));

// ---- selectors ----
const selectors = [
  'transfer(address,uint256)', 'approve(address,uint256)', 'balanceOf(address)',
  'claim(bytes32,uint256,bytes)', 'claimBatch((bytes32,uint256,bytes)[])',
  'publishOffer((address,uint256,uint64,uint32,uint32,uint64),bytes)',
].map((signature) => ({ signature, selector: id(signature).slice(0, 10) }));

// ---- ABI ----
const coder = AbiCoder.defaultAbiCoder();
const addrA = keys[2].address, addrB = keys[3].address;
const abiCases = [
  { name: 'static words', fn: 'f', types: ['uint256', 'address', 'bool', 'uint64', 'bytes32'],
    values: [(2n ** 256n - 1n).toString(), addrA, true, '18446744073709551615', label('x')] },
  { name: 'claim', fn: 'claim', types: ['bytes32', 'uint256', 'bytes'],
    values: [label('channel 1'), '123456789000000000000', bytes(65, 9)] },
  { name: 'empty dynamics', fn: 'g', types: ['bytes', 'string', 'uint256[]', 'bytes32[]', 'bytes[]'],
    values: ['0x', '', [], [], []] },
  { name: 'arrays', fn: 'h', types: ['string', 'bytes32[]', 'uint256[]', 'bytes[]'],
    values: ['Wattstream station 7, Bahnhofstraße', [label('a'), label('b'), label('c')],
             ['0', '1', '1000000000000000000'], ['0x01', bytes(32, 1), bytes(33, 2), '0x']] },
  { name: 'claimBatch', fn: 'claimBatch', types: ['(bytes32,uint256,bytes)[]'],
    values: [[[label('ch 1'), '1000', bytes(65, 1)], [label('ch 2'), '2000', bytes(65, 2)],
              [label('ch 3'), '0', '0x']]] },
  { name: 'static tuple inline', fn: 'k', types: ['(uint256,address)', 'string', '(uint256,address)[]'],
    values: [['42', addrA], 'x', [['1', addrA], ['2', addrB]]] },
  { name: 'nested dynamic tuple', fn: 'm', types: ['(string,(bytes,uint64)[],bool)', 'uint8'],
    values: [['outer', [['0xdeadbeef', '7'], ['0x', '8']], false], '255'] },
  { name: 'publishOffer', fn: 'publishOffer', types: ['(address,uint256,uint64,uint32,uint32,uint64)', 'bytes'],
    values: [[addrB, '250000', '100', '2', '30', '1767225600'], bytes(65, 3)] },
].map((c) => {
  const sig = `${c.fn}(${c.types.join(',')})`;
  const body = coder.encode(c.types, c.values);
  return { name: c.name, signature: sig, types: c.types, values: c.values,
           encoded: hexlify(concat([id(sig).slice(0, 10), body])) };
});

// ---- RLP ----
const rlpCases = [
  ['empty string', '0x'], ['byte 0x00', '0x00'], ['byte 0x7f', '0x7f'], ['byte 0x80', '0x80'],
  ['dog', hexlify(toUtf8Bytes('dog'))], ['55 bytes', bytes(55, 1)], ['56 bytes', bytes(56, 2)],
  ['1024 bytes', bytes(1024, 3)], ['empty list', []],
  ['cat dog', [hexlify(toUtf8Bytes('cat')), hexlify(toUtf8Bytes('dog'))]],
  ['set theory', [[], [[]], [[], [[]]]]],
  ['long list', Array.from({ length: 20 }, (_, i) => bytes(3, i))],
  ['mixed', ['0x01', [bytes(60, 5), '0x'], '0x80']],
].map(([name, value]) => ({ name, value, encoded: encodeRlp(value) }));
const rlpInts = ['0', '1', '127', '128', '255', '256', '1024', '18446744073709551615',
  '18446744073709551616', (2n ** 256n - 1n).toString()]
  .map((v) => ({ value: v, encoded: encodeRlp(BigInt(v) === 0n ? '0x' : hexlify(toBeArray(BigInt(v)))) }));

// ---- EIP-712 vouchers, in the format of tests/vectors/eip712-vouchers.json ----
// The verdict is OpenZeppelin ECDSA.tryRecover's rule set re-stated here
// (65 bytes, v 27/28, 0<r<n, 0<s<=n/2, signer is sessionKey or sender);
// the contract-derived verdicts live in eip712-vouchers.json.
const voucherType = 'Voucher(bytes32 channelId,uint256 amount)';
const types = { Voucher: [{ name: 'channelId', type: 'bytes32' }, { name: 'amount', type: 'uint256' }] };
const domain = { name: 'Wattstream', version: '1', chainId: '31337',
                 verifyingContract: getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3') };
const sessionW = new Wallet(privateKeys[4]), senderW = new Wallet(privateKeys[5]);
const strangerW = new Wallet(privateKeys[6]);
function verdict(digest, sigHex, sessionKey, sender) {
  const b = getBytes(sigHex);
  if (b.length !== 65) return [false, null, 'signature length'];
  const v = b[64], r = BigInt(hexlify(b.slice(0, 32))), s = BigInt(hexlify(b.slice(32, 64)));
  if (s > HALF_N) return [false, null, 'high s'];
  if (v !== 27 && v !== 28) return [false, null, 'bad v'];
  if (r === 0n || s === 0n || r >= N) return [false, null, 'r or s out of range'];
  let rec;
  try { rec = recoverAddress(digest, { r: toBeHex(r, 32), s: toBeHex(s, 32), v }); }
  catch { return [false, null, 'unrecoverable']; }
  const ok = rec === sessionKey || rec === sender;
  return [ok, rec, ok ? (rec === sessionKey ? 'signed by session key' : 'signed by sender') : 'wrong signer'];
}
const voucherCases = [];
function addVoucher(name, dom, channelId, amount, sigHex) {
  const v = { channelId, amount };
  const digest = TypedDataEncoder.hash(dom, types, v);
  const [valid, recovered, reason] = verdict(digest, sigHex, sessionW.address, senderW.address);
  voucherCases.push({ name, domain: dom,
    domainSeparator: TypedDataEncoder.hashDomain(dom), typeHash: id(voucherType),
    voucher: v, structHash: TypedDataEncoder.from(types).hash(v), digest,
    signature: sigHex, recovered, sessionKey: sessionW.address, sender: senderW.address,
    valid, reason });
}
const sign = (w, dom, v) => w.signingKey.sign(TypedDataEncoder.hash(dom, types, v)).serialized;
const ch1 = label('channel 1'), ch2 = label('channel 2');
for (const [i, amt] of ['0', '1', '250000', '1000000000000000000', (2n ** 256n - 1n).toString()].entries())
  addVoucher(`session key, amount ${amt}`, domain, i % 2 ? ch2 : ch1, amt,
             sign(sessionW, domain, { channelId: i % 2 ? ch2 : ch1, amount: amt }));
addVoucher('sender signs', domain, ch1, '777', sign(senderW, domain, { channelId: ch1, amount: '777' }));
addVoucher('stranger signs', domain, ch1, '777', sign(strangerW, domain, { channelId: ch1, amount: '777' }));
const good = sign(sessionW, domain, { channelId: ch1, amount: '5000' });
addVoucher('amount changed after signing', domain, ch1, '5001', good);
addVoucher('channel changed after signing', domain, ch2, '5000', good);
const otherDomain = { ...domain, chainId: '1' };
addVoucher('signed for another chain', domain, ch1, '5000', sign(sessionW, otherDomain, { channelId: ch1, amount: '5000' }));
const otherContract = { ...domain, verifyingContract: getAddress('0xe7f1725e7734ce288f8367e1bb143e90bb3f0512') };
addVoucher('signed for another contract', domain, ch1, '5000', sign(sessionW, otherContract, { channelId: ch1, amount: '5000' }));
{
  const b = getBytes(good);
  const s = BigInt(hexlify(b.slice(32, 64)));
  const hi = concat([b.slice(0, 32), toBeHex(N - s, 32), new Uint8Array([b[64] === 27 ? 28 : 27])]);
  addVoucher('high-s twin', domain, ch1, '5000', hexlify(hi));
  for (const v of [0, 1, 26, 29])
    addVoucher(`v = ${v}`, domain, ch1, '5000', hexlify(concat([b.slice(0, 64), new Uint8Array([v])])));
  addVoucher('64 bytes (EIP-2098 style)', domain, ch1, '5000', hexlify(b.slice(0, 64)));
  addVoucher('66 bytes', domain, ch1, '5000', hexlify(concat([b, '0x00'])));
  addVoucher('empty signature', domain, ch1, '5000', '0x');
  addVoucher('r = 0', domain, ch1, '5000', hexlify(concat([toBeHex(0n, 32), b.slice(32)])));
  addVoucher('s = 0', domain, ch1, '5000', hexlify(concat([b.slice(0, 32), toBeHex(0n, 32), b.slice(64)])));
  addVoucher('r = n', domain, ch1, '5000', hexlify(concat([toBeHex(N, 32), b.slice(32)])));
  const flipped = new Uint8Array(b); flipped[5] ^= 0x01;
  addVoucher('bit flipped in r', domain, ch1, '5000', hexlify(flipped));
}

// ---- EIP-1559 transactions ----
const txCases = [
  { chainId: 31337, nonce: 0, maxPriorityFeePerGas: '1000000000', maxFeePerGas: '2000000000',
    gasLimit: 21000, to: addrB, value: '1000000000000000000', data: '0x', key: 2 },
  { chainId: 1, nonce: 7, maxPriorityFeePerGas: '0', maxFeePerGas: '30000000000',
    gasLimit: 120000, to: domain.verifyingContract, value: '0', data: abiCases[1].encoded, key: 4 },
  { chainId: 8453, nonce: 1000000, maxPriorityFeePerGas: '1', maxFeePerGas: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
    gasLimit: 30000000, to: addrA, value: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
    data: abiCases[4].encoded, key: 5 },
  { chainId: 31337, nonce: 3, maxPriorityFeePerGas: '1000000000', maxFeePerGas: '1000000000',
    gasLimit: 3000000, to: null, value: '0', data: bytes(300, 8), key: 6 },
].map((c) => {
  const tx = Transaction.from({ type: 2, chainId: c.chainId, nonce: c.nonce,
    maxPriorityFeePerGas: BigInt(c.maxPriorityFeePerGas), maxFeePerGas: BigInt(c.maxFeePerGas),
    gasLimit: c.gasLimit, to: c.to, value: BigInt(c.value), data: c.data, accessList: [] });
  const signingHash = tx.unsignedHash;
  tx.signature = new SigningKey(privateKeys[c.key]).sign(signingHash);
  return { privateKey: privateKeys[c.key], chainId: String(c.chainId), nonce: String(c.nonce),
    maxPriorityFeePerGas: c.maxPriorityFeePerGas, maxFeePerGas: c.maxFeePerGas,
    gasLimit: String(c.gasLimit), to: c.to, value: c.value, data: c.data,
    signingHash, raw: tx.serialized, hash: tx.hash, from: tx.from };
});

const out = {
  generator: 'tests/vectors/gen-eth-kat.mjs', ethers: ethers.version,
  keccak, keys, signatures, eip55, selectors, abi: abiCases, rlp: rlpCases, rlpInts,
  voucherType, vouchers: voucherCases, transactions: txCases,
};
writeFileSync(join(here, 'eth-kat.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${join(here, 'eth-kat.json')}: ${keccak.length} keccak, ${keys.length} keys, ` +
  `${signatures.length} signatures, ${abiCases.length} abi, ${rlpCases.length + rlpInts.length} rlp, ` +
  `${voucherCases.length} vouchers, ${txCases.length} transactions`);
