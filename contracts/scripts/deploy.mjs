// Deploys the wattstream contracts to any JSON-RPC endpoint and writes the deployment
// JSON that the controller, the wallet and the demo read:
//   {chainId, contracts: {channels: {address, abi}, registry: {address, abi},
//    token: {address, abi} | null}, eip712: {name, version}, offerEip712: {name, version},
//    challengePeriod, deployedAt, deployer, blockNumber}
// CLI: node scripts/deploy.mjs --rpc URL [--out FILE] [--challenge-period SECONDS]
//        [--test-token | --token ADDRESS]
// The key comes from env DEPLOYER_KEY; on chain id 31337 it defaults to anvil's first
// dev key. The test token is deployed on dev chains (31337, 1337) or with --test-token.
// Cost: three contract creations (~3.5M gas in all).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Wallet, getAddress } from 'ethers';
import { artifact, deployContract, makeProvider, CONTRACTS_DIR } from '../lib/chain.mjs';
import { DEV_KEYS } from '../lib/anvil.mjs';

export const DEFAULT_CHALLENGE_PERIOD_S = 86400;
const DEV_CHAINS = new Set([31337n, 1337n]);

/** Minimal ERC-20 ABI recorded for a token this script did not deploy. */
const ERC20_ABI = [
  'function balanceOf(address) view returns (uint256)',
  'function allowance(address,address) view returns (uint256)',
  'function approve(address,uint256) returns (bool)',
  'function transfer(address,uint256) returns (bool)',
  'function decimals() view returns (uint8)',
  'function symbol() view returns (string)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
];

/**
 * Deploys channels + registry (+ test token) and returns the deployment object; writes
 * it to `out` when given.
 * @param {object} o
 * @param {string} o.rpcUrl JSON-RPC endpoint
 * @param {string} [o.key] deployer private key; default env DEPLOYER_KEY, then (chain 31337 only) anvil's first key
 * @param {number} [o.challengePeriod=86400] seconds
 * @param {boolean} [o.testToken] deploy TestToken; default: only on a dev chain and when no `token` is given
 * @param {string} [o.token] address of an existing ERC-20 to record instead
 * @param {string} [o.out] path of the JSON to write
 */
export async function deploy({ rpcUrl, key, challengePeriod = DEFAULT_CHALLENGE_PERIOD_S, testToken, token, out } = {}) {
  if (!rpcUrl) throw new Error('deploy: rpcUrl required');
  const provider = makeProvider(rpcUrl);
  try {
    const { chainId } = await provider.getNetwork();
    key = key || process.env.DEPLOYER_KEY;
    if (!key) {
      if (chainId !== 31337n) throw new Error(`deploy: set DEPLOYER_KEY (chain id ${chainId} is not anvil's 31337)`);
      key = DEV_KEYS[0];
    }
    const signer = new Wallet(key, provider);
    if (testToken === undefined) testToken = !token && DEV_CHAINS.has(chainId);
    if (testToken && token) throw new Error('deploy: --test-token and --token exclude each other');

    const channels = await deployContract(signer, 'WattstreamChannels', [challengePeriod]);
    const registry = await deployContract(signer, 'OfferRegistry');
    let tokenEntry = null;
    if (testToken) {
      const t = await deployContract(signer, 'TestToken');
      tokenEntry = { address: await t.getAddress(), abi: artifact('TestToken').abi };
    } else if (token) {
      tokenEntry = { address: getAddress(token), abi: ERC20_ABI };
    }
    const d = {
      chainId: Number(chainId),
      contracts: {
        channels: { address: await channels.getAddress(), abi: artifact('WattstreamChannels').abi },
        registry: { address: await registry.getAddress(), abi: artifact('OfferRegistry').abi },
        token: tokenEntry,
      },
      eip712: { name: 'Wattstream', version: '1' },
      offerEip712: { name: 'Wattstream Offers', version: '1' },
      challengePeriod: Number(await channels.challengePeriod()),
      deployer: signer.address,
      blockNumber: await provider.getBlockNumber(),
      deployedAt: new Date().toISOString(),
    };
    if (out) {
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, JSON.stringify(d, null, 2) + '\n');
    }
    return d;
  } finally {
    provider.destroy();
  }
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--rpc') o.rpcUrl = val();
    else if (a === '--out') o.out = val();
    else if (a === '--challenge-period') o.challengePeriod = Number(val());
    else if (a === '--test-token') o.testToken = true;
    else if (a === '--token') o.token = val();
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const o = parseArgs(process.argv.slice(2));
    if (o.help || !o.rpcUrl) {
      console.error('usage: deploy.mjs --rpc URL [--out FILE] [--challenge-period SECONDS] [--test-token | --token ADDRESS]\n' +
        '       key from env DEPLOYER_KEY (default on chain 31337: anvil dev key 0)');
      process.exit(o.help ? 0 : 2);
    }
    if (!Number.isInteger(o.challengePeriod ?? 0)) throw new Error('--challenge-period must be an integer');
    const d0 = await deploy({ ...o, out: undefined });
    const out = o.out || path.join(CONTRACTS_DIR, 'build', `deployment-${d0.chainId}.json`);
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(d0, null, 2) + '\n');
    console.log(path.resolve(out));
  } catch (e) {
    console.error(`deploy: ${e.shortMessage || e.message}`);
    process.exit(1);
  }
}
