// Small ethers v6 helpers shared by the scripts and tests of contracts/: read a
// compiled artifact from contracts/build/, make a provider tuned for a local chain
// (no response cache, fast receipt polling), deploy a contract and wait for it.
// Cost: file reads and JSON-RPC round trips only.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContractFactory, JsonRpcProvider } from 'ethers';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** contracts/ folder (absolute). */
export const CONTRACTS_DIR = root;

/** The artifact {contractName, abi, bytecode, ...} of a compiled contract; run `npm run compile` first. */
export function artifact(name) {
  const p = path.join(root, 'build', `${name}.json`);
  if (!fs.existsSync(p)) throw new Error(`${p} missing: run \`npm run compile\` in contracts/`);
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

/** A JSON-RPC provider for `url` that never serves stale cached answers. */
export function makeProvider(url) {
  return new JsonRpcProvider(url, undefined, { cacheTimeout: -1, pollingInterval: 100, staticNetwork: true });
}

/** Deploys artifact `name` with constructor `args` from `signer`; resolves to the mined ethers Contract. */
export async function deployContract(signer, name, args = []) {
  const a = artifact(name);
  const f = new ContractFactory(a.abi, a.bytecode, signer);
  const c = await f.deploy(...args);
  await c.waitForDeployment();
  return c;
}
