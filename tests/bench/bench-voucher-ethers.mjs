#!/usr/bin/env node
// bench-voucher-ethers.mjs: ethers.js verifyTypedData throughput on the
// same voucher as bench-voucher.c (same key, domain, channel and amounts),
// for the design's "at least 40x faster than ethers" comparison.
//
// usage: node tests/bench/bench-voucher-ethers.mjs [C_verifications_per_s]
// With the C figure (from bench-voucher's "C voucher verify" line) it also
// prints the ratio.  Loads ethers from contracts/node_modules; if that is
// not installed it says so and exits 0 (nothing measured).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'contracts', 'package.json'));
let ethers;
try {
  ethers = require('ethers');
} catch {
  console.log('bench-voucher-ethers: skipped: ethers is not installed in contracts/node_modules ' +
              '(run npm ci in contracts/)');
  process.exit(0);
}
const { keccak256, toUtf8Bytes, Wallet, verifyTypedData } = ethers;

const seconds = Number(process.env.WS_BENCH_SECONDS || 1);
const label = (s) => keccak256(toUtf8Bytes(s));
const session = new Wallet(label('wattstream bench session key'));
const sender = new Wallet(label('wattstream bench sender key'));
const domain = { name: 'Wattstream', version: '1', chainId: 31337,
                 verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
const types = { Voucher: [{ name: 'channelId', type: 'bytes32' }, { name: 'amount', type: 'uint256' }] };
const channelId = label('wattstream bench channel');

const vouchers = [];
for (let i = 0; i < 64; i++) {
  const value = { channelId, amount: 1000000n + 1000n * BigInt(i) };
  vouchers.push({ value, sig: session.signingKey.sign(
    ethers.TypedDataEncoder.hash(domain, types, value)).serialized });
}
console.log(`voucher 0 (amount 1000000) signature: ${vouchers[0].sig}`);

// The same work as the C "full" path: recover, then compare with the two
// authorized signers.
function verify(v) {
  const who = verifyTypedData(domain, types, v.value, v.sig);
  return who === session.address || who === sender.address;
}

let best = 0;
for (let round = 0; round < 3; round++) {
  let n = 0;
  const t0 = process.hrtime.bigint();
  let dt;
  do {
    for (let k = 0; k < 16; k++)
      if (!verify(vouchers[n++ % 64])) throw new Error('ethers rejected a valid voucher');
    dt = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (dt < seconds);
  best = Math.max(best, n / dt);
}
console.log(`ethers ${ethers.version} verifyTypedData: ${best.toFixed(0)}/s (${(1e6 / best).toFixed(1)} us each)`);
const c = Number(process.argv[2]);
if (c > 0)
  console.log(`C/ethers speed ratio: ${(c / best).toFixed(1)}x (target >= 40x)`);
