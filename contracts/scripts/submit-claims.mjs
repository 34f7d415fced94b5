// Submits the claims a station exports when its payee is a plain address
// ([payment] payee_address; control command `claims`), with the payee's key, from
// any machine that can reach the chain. Also publishes the station's signed offer
// when the registry does not have it yet (the station key may hold no ether).
// CLI: node scripts/submit-claims.mjs --rpc URL --claims FILE|- (--key-file FILE | --key-env NAME)
//        [--no-offer] [--dry-run]
// The exported JSON: {chainId, channels, payee, claims: [{channel, amount, signature, close}],
// calldata, offer: {registry, station, nonce, calldata}}.  All the claims go in one
// transaction (claim/claimMany, as exported); claimMany is all or nothing, so if it
// would revert each claim is tried alone and the bad ones are reported. Prints one
// JSON line {claimed, failed, transactions, offer} and exits 0 when nothing failed,
// 1 otherwise, 2 on bad usage. Cost: one eth_estimateGas per transaction tried.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Contract, Interface, Wallet, getAddress } from 'ethers';
import { makeProvider } from '../lib/chain.mjs';

const CHANNELS_ABI = [
  'function claim(bytes32 channelId, uint256 amount, bytes signature, bool close) returns (uint256)',
  'function claimMany((bytes32 channelId, uint256 amount, bytes signature, bool close)[] claims) returns (uint256)',
  'event Claimed(bytes32 indexed channelId, uint256 paid, uint256 totalClaimed)',
];
const REGISTRY_ABI = [
  'function latest(address station) view returns (uint64 nonce, uint64 validUntil, bytes32 offerHash)',
];

function usage(msg) {
  if (msg) console.error(`submit-claims: ${msg}`);
  console.error('usage: submit-claims.mjs --rpc URL --claims FILE|- (--key-file FILE | --key-env NAME) [--no-offer] [--dry-run]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { offer: true, dryRun: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--rpc') o.rpc = val();
    else if (a === '--claims') o.claims = val();
    else if (a === '--key-file') o.keyFile = val();
    else if (a === '--key-env') o.keyEnv = val();
    else if (a === '--no-offer') o.offer = false;
    else if (a === '--dry-run') o.dryRun = true;
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!o.rpc || !o.claims) usage('--rpc and --claims are required');
  if (!o.keyFile === !o.keyEnv) usage('give the payee key with exactly one of --key-file and --key-env (never on the command line)');
  return o;
}

function readKey(o) {
  let text;
  if (o.keyFile) {
    const st = fs.statSync(o.keyFile);
    if (st.mode & 0o077) throw new Error(`${o.keyFile} is readable by group or others (chmod 600, and rotate the key if it may have leaked)`);
    text = fs.readFileSync(o.keyFile, 'utf8');
  } else {
    text = process.env[o.keyEnv];
    if (!text) throw new Error(`environment variable ${o.keyEnv} is not set`);
  }
  text = text.trim();
  if (!/^0x[0-9a-fA-F]{64}$/.test(text)) throw new Error('the key is not 0x and 64 hex digits');
  return text;
}

function readExport(file) {
  const text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  let j;
  try { j = JSON.parse(text); } catch (e) { throw new Error(`the claims are not JSON: ${e.message}`); }
  if (j.ok === false) throw new Error(`the station answered an error: ${j.error}`);
  if (!Array.isArray(j.claims) || !j.channels || !j.payee || j.chainId === undefined) {
    throw new Error('not a claims export (expected chainId, channels, payee, claims)');
  }
  for (const c of j.claims) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(c.channel) || !/^[0-9]+$/.test(c.amount) ||
        !/^0x[0-9a-fA-F]{130}$/.test(c.signature) || typeof c.close !== 'boolean') {
      throw new Error(`malformed claim ${JSON.stringify(c)}`);
    }
  }
  return j;
}

/** Estimates, then sends {to, data}; resolves to the receipt, or throws the reason. */
async function send(wallet, to, data, dryRun) {
  const gas = await wallet.estimateGas({ to, data });
  if (dryRun) return { hash: null, gasUsed: gas, logs: [], status: 1 };
  const tx = await wallet.sendTransaction({ to, data, gasLimit: gas * 125n / 100n });
  const rc = await tx.wait();
  if (!rc || rc.status !== 1) throw new Error(`transaction ${tx.hash} reverted`);
  return rc;
}

const reason = (e) => e?.shortMessage || e?.message || String(e);

export async function submitClaims({ rpc, exported, key, offer = true, dryRun = false }) {
  const provider = makeProvider(rpc);
  const wallet = new Wallet(key, provider);
  const out = { claimed: [], failed: [], transactions: [], offer: null };
  try {
    const { chainId } = await provider.getNetwork();
    if (BigInt(exported.chainId) !== chainId) throw new Error(`the claims are for chain ${exported.chainId}, the node is on ${chainId}`);
    if (getAddress(exported.payee) !== wallet.address) {
      throw new Error(`the channels pay ${getAddress(exported.payee)}, this key is ${wallet.address}`);
    }
    const channels = getAddress(exported.channels);
    const iface = new Interface(CHANNELS_ABI);
    const claims = exported.claims;
    let batchDone = false;
    if (claims.length > 0) {
      const data = exported.calldata || (claims.length === 1
        ? iface.encodeFunctionData('claim', [claims[0].channel, claims[0].amount, claims[0].signature, claims[0].close])
        : iface.encodeFunctionData('claimMany', [claims.map((c) => [c.channel, c.amount, c.signature, c.close])]));
      try {
        const rc = await send(wallet, channels, data, dryRun);
        out.transactions.push(rc.hash);
        out.claimed.push(...claims.map((c) => c.channel));
        batchDone = true;
      } catch (e) {
        if (claims.length === 1) out.failed.push({ channel: claims[0].channel, reason: reason(e) });
        else console.error(`submit-claims: the batch of ${claims.length} would fail (${reason(e)}); one by one`);
      }
    }
    if (!batchDone && claims.length > 1) {
      for (const c of claims) {
        try {
          const rc = await send(wallet, channels, iface.encodeFunctionData('claim', [c.channel, c.amount, c.signature, c.close]), dryRun);
          out.transactions.push(rc.hash);
          out.claimed.push(c.channel);
        } catch (e) {
          out.failed.push({ channel: c.channel, reason: reason(e) });
        }
      }
    }
    if (offer && exported.offer?.calldata) {
      const o = exported.offer;
      const registry = new Contract(getAddress(o.registry), REGISTRY_ABI, provider);
      const [latest] = await registry.latest(getAddress(o.station));
      if (BigInt(o.nonce) <= latest) {
        out.offer = 'current';
      } else {
        try {
          const rc = await send(wallet, getAddress(o.registry), o.calldata, dryRun);
          if (rc.hash) out.transactions.push(rc.hash);
          out.offer = 'published';
        } catch (e) {
          out.offer = `failed: ${reason(e)}`;
        }
      }
    }
  } finally {
    provider.destroy();
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  const o = parseArgs(process.argv.slice(2));
  try {
    const out = await submitClaims({ rpc: o.rpc, exported: readExport(o.claims), key: readKey(o), offer: o.offer, dryRun: o.dryRun });
    console.log(JSON.stringify(out));
    process.exit(out.failed.length || (out.offer && out.offer.startsWith('failed')) ? 1 : 0);
  } catch (e) {
    console.error(`submit-claims: ${reason(e)}`);
    process.exit(1);
  }
}
