// Compiles contracts/src/*.sol and contracts/test/mocks/*.sol with the pinned solc-js
// (standard JSON, optimizer on, EVM cancun) into contracts/build/<Name>.json
// ({contractName, sourceName, abi, bytecode, deployedBytecode}). Fails on any error
// and on any warning in our own sources. Cost: a few seconds of solc-js (WebAssembly) on one core.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const solc = require('solc');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(root, 'build');

export const SOLC_SETTINGS = {
  optimizer: { enabled: true, runs: 1000 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

function listSol(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).map((f) => path.join(dir, f));
}

function findImport(p) {
  const candidates = [path.join(root, 'node_modules', p), path.join(root, p)];
  for (const c of candidates) {
    if (fs.existsSync(c)) return { contents: fs.readFileSync(c, 'utf8') };
  }
  return { error: `import not found: ${p}` };
}

export function compile({ quiet = false } = {}) {
  const files = [...listSol(path.join(root, 'src')), ...listSol(path.join(root, 'test', 'mocks'))];
  const sources = {};
  for (const f of files) sources[path.relative(root, f)] = { content: fs.readFileSync(f, 'utf8') };
  const input = { language: 'Solidity', sources, settings: SOLC_SETTINGS };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  // errors anywhere and warnings in our own sources fail the build; OpenZeppelin's
  // notice that it uses transient storage (for its reentrancy guard) is expected
  const ours = (e) => !e.sourceLocation || !e.sourceLocation.file.startsWith('@openzeppelin/');
  const problems = (out.errors || []).filter((e) => e.severity === 'error' || (e.severity === 'warning' && ours(e)));
  for (const e of problems) process.stderr.write(e.formattedMessage || e.message);
  if (problems.length) throw new Error(`solc: ${problems.length} error(s)/warning(s)`);
  fs.mkdirSync(buildDir, { recursive: true });
  const written = [];
  for (const [sourceName, contracts] of Object.entries(out.contracts)) {
    if (!sourceName.startsWith('src/') && !sourceName.startsWith('test/')) continue;
    for (const [name, c] of Object.entries(contracts)) {
      const art = {
        contractName: name,
        sourceName,
        compiler: `solc-js ${solc.version()}`,
        settings: { optimizer: SOLC_SETTINGS.optimizer, evmVersion: SOLC_SETTINGS.evmVersion },
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
      fs.writeFileSync(path.join(buildDir, `${name}.json`), JSON.stringify(art, null, 2) + '\n');
      written.push(name);
    }
  }
  if (!quiet) console.log(`compiled ${written.length} contracts with solc ${solc.version()} -> ${path.relative(process.cwd(), buildDir) || '.'}`);
  return written;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    compile();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
