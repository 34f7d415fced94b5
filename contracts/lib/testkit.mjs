// Test kit for contracts/test/*.test.mjs (also usable by other node tests): starts a
// private anvil, deploys fresh contracts, signs vouchers and offers, decodes custom
// errors, moves chain time. Every anvil it starts is stopped by PID in close().
// Cost: one anvil process per kit; deployments take a few ms each on anvil.
import { Interface, Signature, TypedDataEncoder, Wallet, keccak256, toUtf8Bytes } from 'ethers';
import fs from 'node:fs';
import path from 'node:path';
import { startAnvil, DEV_KEYS, rpc } from './anvil.mjs';
import { artifact, deployContract, makeProvider, CONTRACTS_DIR } from './chain.mjs';

export const VOUCHER_TYPES = { Voucher: [{ name: 'channelId', type: 'bytes32' }, { name: 'amount', type: 'uint256' }] };
export const OFFER_TYPES = {
  Offer: [
    { name: 'station', type: 'address' },
    { name: 'payee', type: 'address' },
    { name: 'token', type: 'address' },
    { name: 'pricePerKWh', type: 'uint256' },
    { name: 'incrementWh', type: 'uint32' },
    { name: 'prepaidIncrements', type: 'uint32' },
    { name: 'graceSeconds', type: 'uint32' },
    { name: 'validFrom', type: 'uint64' },
    { name: 'validUntil', type: 'uint64' },
    { name: 'location', type: 'string' },
    { name: 'endpoint', type: 'string' },
    { name: 'nonce', type: 'uint64' },
  ],
};
export const VOUCHER_TYPE_STRING = 'Voucher(bytes32 channelId,uint256 amount)';
export const OFFER_TYPE_STRING =
  'Offer(address station,address payee,address token,uint256 pricePerKWh,uint32 incrementWh,' +
  'uint32 prepaidIncrements,uint32 graceSeconds,uint64 validFrom,uint64 validUntil,' +
  'string location,string endpoint,uint64 nonce)';
/** secp256k1 group order n. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Fixed keys (test only) so vectors are reproducible. */
export const FIXED_KEYS = {
  sessionKey: keccak256(toUtf8Bytes('wattstream test session key')),
  stranger: keccak256(toUtf8Bytes('wattstream test stranger key')),
  station: keccak256(toUtf8Bytes('wattstream test station key')),
};

let errIface;
/** Interface with the custom errors of every compiled contract (ours and OpenZeppelin's). */
function errorInterface() {
  if (errIface) return errIface;
  const seen = new Map();
  for (const f of fs.readdirSync(path.join(CONTRACTS_DIR, 'build'))) {
    if (!f.endsWith('.json') || f.startsWith('deployment')) continue;
    for (const frag of JSON.parse(fs.readFileSync(path.join(CONTRACTS_DIR, 'build', f), 'utf8')).abi) {
      if (frag.type === 'error') seen.set(JSON.stringify([frag.name, frag.inputs.map((i) => i.type)]), frag);
    }
  }
  errIface = new Interface([...seen.values()]);
  return errIface;
}

/** Revert data (hex) carried by an ethers error, or null. */
export function revertData(e) {
  for (const d of [e?.data, e?.info?.error?.data, e?.error?.data, e?.info?.error?.data?.data]) {
    if (typeof d === 'string' && d.startsWith('0x')) return d;
  }
  return null;
}

/** Name (and args) of the custom error in an ethers error, e.g. {name: 'NotReceiver', args: [...]}. */
export function decodeRevert(e) {
  const data = revertData(e);
  if (!data || data === '0x') return null;
  try {
    const p = errorInterface().parseError(data);
    return p ? { name: p.name, args: p.args } : { name: `unknown(${data.slice(0, 10)})`, args: [] };
  } catch {
    return { name: `unknown(${data.slice(0, 10)})`, args: [] };
  }
}

/**
 * Awaits `promise` and checks that it reverts with custom error `name`; returns its args.
 * Throws (failing the test) when it succeeds or reverts otherwise.
 */
export async function expectRevert(promise, name) {
  try {
    await (await promise)?.wait?.();
  } catch (e) {
    const got = decodeRevert(e);
    if (got?.name === name) return got.args;
    throw new Error(`expected revert ${name}, got ${got ? got.name : e.shortMessage || e.message}`);
  }
  throw new Error(`expected revert ${name}, but it succeeded`);
}

/** Sends a transaction (a pending contract call) and returns its receipt; throws on revert. */
export async function mined(txPromise) {
  const tx = await txPromise;
  return tx.wait();
}

/** Voucher EIP-712 domain. */
export function voucherDomain(chainId, verifyingContract) {
  return { name: 'Wattstream', version: '1', chainId, verifyingContract };
}
/** Offer EIP-712 domain. */
export function offerDomain(chainId, verifyingContract) {
  return { name: 'Wattstream Offers', version: '1', chainId, verifyingContract };
}

/** 65-byte r||s||v (v 27/28, low S) voucher signature by `wallet`. */
export function signVoucher(wallet, domain, channelId, amount) {
  const digest = TypedDataEncoder.hash(domain, VOUCHER_TYPES, { channelId, amount });
  return wallet.signingKey.sign(digest).serialized;
}

/** The same signature with S mirrored (s' = n - s, v flipped): valid math, high S. */
export function highS(sigHex) {
  const s = Signature.from(sigHex);
  const hs = SECP256K1_N - BigInt(s.s);
  const v = s.v === 27 ? 28 : 27;
  return '0x' + s.r.slice(2) + hs.toString(16).padStart(64, '0') + v.toString(16);
}

/** Replaces v (last byte) of a 65-byte signature. */
export function withV(sigHex, v) {
  return sigHex.slice(0, 130) + v.toString(16).padStart(2, '0');
}

/**
 * A running chain with fresh deployments. Accounts: deployer, alice (sender),
 * bob (receiver), carol (stranger/other receiver), dave (second sender); session
 * is an unfunded key that only signs.
 */
export async function makeKit({ challengePeriod = 86400, chainId = 31337 } = {}) {
  const chain = await startAnvil({ chainId });
  try {
    const provider = makeProvider(chain.url);
    const [deployer, alice, bob, carol, dave] = DEV_KEYS.slice(0, 5).map((k) => new Wallet(k, provider));
    const session = new Wallet(FIXED_KEYS.sessionKey);
    const stranger = new Wallet(FIXED_KEYS.stranger);
    const kit = {
      chain, provider, deployer, alice, bob, carol, dave, session, stranger,
      chainId: BigInt(chainId),
      async deploy(name, args = [], from = deployer) { return deployContract(from, name, args); },
      async fresh() {
        kit.channels = await deployContract(deployer, 'WattstreamChannels', [challengePeriod]);
        kit.token = await deployContract(deployer, 'TestToken');
        kit.registry = await deployContract(deployer, 'OfferRegistry');
        kit.domain = voucherDomain(kit.chainId, await kit.channels.getAddress());
        return kit;
      },
      async snapshot() { return rpc(chain.url, 'evm_snapshot'); },
      async revert(id) { return rpc(chain.url, 'evm_revert', [id]); },
      /** Advances chain time by `s` seconds and mines a block. */
      async increaseTime(s) {
        await rpc(chain.url, 'evm_increaseTime', [Number(s)]);
        await rpc(chain.url, 'evm_mine');
      },
      /** Sets the timestamp of the next block. */
      async setNextTimestamp(t) { await rpc(chain.url, 'evm_setNextBlockTimestamp', [Number(t)]); },
      async now() { return BigInt((await provider.getBlock('latest')).timestamp); },
      /** Mints, approves and opens; returns {id, receipt}. */
      async open({ from = alice, to = bob, token = kit.token, key = session.address, amount = 1000n, mint = true } = {}) {
        const ch = kit.channels;
        if (mint) await mined(token.connect(from).mint(from.address, amount));
        await mined(token.connect(from).approve(await ch.getAddress(), amount));
        const receipt = await mined(ch.connect(from).open(to.address, await token.getAddress(), key, amount));
        const ev = receipt.logs.map((l) => { try { return ch.interface.parseLog(l); } catch { return null; } })
          .find((x) => x && x.name === 'ChannelOpened');
        return { id: ev.args.channelId, receipt };
      },
      voucher(signer, channelId, amount, domain = kit.domain) { return signVoucher(signer, domain, channelId, amount); },
      async close() { provider.destroy(); await chain.stop(); },
    };
    return kit;
  } catch (e) {
    await chain.stop();
    throw e;
  }
}

/** Parsed logs of `contract` in a receipt. */
export function events(receipt, contract, name) {
  return receipt.logs
    .filter((l) => l.address.toLowerCase() === contract.target.toLowerCase())
    .map((l) => { try { return contract.interface.parseLog(l); } catch { return null; } })
    .filter((x) => x && (!name || x.name === name));
}

export { artifact };
