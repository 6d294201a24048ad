// What an npm user meets: packs every package (as `npm publish` would), installs the tarballs with their peer
// dependencies into a scratch project, type-checks scripts/consumer/program.ts (as program.mts and program.cts)
// and each package README's ```ts examples under every module mode a consumer may use — strict,
// `skipLibCheck: false` (so our .d.ts/.d.cts files are checked too), exactOptionalPropertyTypes,
// noUncheckedIndexedAccess — then runs the ESM and CommonJS builds of the program with node and compares their
// output with scripts/consumer/expected-output.txt, and runs each README example (they must exit 0).
// Run `npm run build` first.
//
// Peer dependencies are installed at the workspace's own versions, so npm takes them from its cache when it can.
// better-sqlite3 compiles from source on install (about a minute); when the workspace holds a build of the same
// version for this Node, its binary is copied instead. Set MARKETKIT_CONSUMER_KEEP=1 to keep the scratch project.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['core', 'adapters', 'testing'];
/** Installed beside the tarballs at the workspace's versions: the peers a SQLite + PostgreSQL user adds, and tsc. */
const PEERS = ['better-sqlite3', 'pg', 'kysely', 'typescript', '@types/node'];

/** Each module mode a consumer may compile with; the first that emits is the one run with node. */
const VARIANTS = [
  { name: 'node16', module: 'node16', moduleResolution: 'node16' },
  { name: 'nodenext', module: 'nodenext', moduleResolution: 'nodenext', emit: true },
  { name: 'bundler-esnext', module: 'esnext', moduleResolution: 'bundler' },
  { name: 'bundler-preserve', module: 'preserve', moduleResolution: 'bundler' },
];
const STRICTEST = {
  target: 'ES2022',
  lib: ['ES2023'],
  types: ['node'],
  strict: true,
  skipLibCheck: false,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noEmit: true,
};

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log = (message) => console.log(`[check-consumer ${elapsed()}] ${message}`);
const versionIn = (dir, name) =>
  JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;

for (const p of PACKAGES) {
  if (!existsSync(join(root, 'packages', p, 'dist')))
    throw new Error(`packages/${p}/dist is missing: run npm run build`);
}

const work = mkdtempSync(join(tmpdir(), 'marketkit-consumer-'));
const app = join(work, 'app');
let ok = false;
try {
  log(`npm pack into ${work}`);
  const packed = JSON.parse(
    execFileSync(
      'npm',
      ['pack', '--json', '--pack-destination', work, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );

  mkdirSync(join(app, 'src'), { recursive: true });
  const dependencies = Object.fromEntries([
    ...packed.map((t) => [t.name, `file:${join(work, t.filename)}`]),
    ...PEERS.map((name) => [name, versionIn(root, name)]),
  ]);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'marketkit-consumer', version: '0.0.0', private: true, dependencies }, null, 2),
  );
  log(`npm install ${Object.keys(dependencies).join(', ')}`);
  execFileSync('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: app,
    stdio: 'inherit',
  });
  installSqliteBinary();

  const sources = writeSources();
  const failures = (
    await inParallel(
      VARIANTS.map((variant) => () => typeCheck(variant, sources)),
      2,
    )
  ).filter((f) => f !== undefined);
  if (failures.length > 0) throw new Error(`type errors in what a consumer compiles:\n\n${failures.join('\n')}`);

  const expected = readFileSync(join(root, 'scripts/consumer/expected-output.txt'), 'utf8');
  for (const built of ['out/program.mjs', 'out/program.cjs']) {
    log(`node ${built}`);
    const run = spawnSync(process.execPath, [built], { cwd: app, encoding: 'utf8' });
    if (run.status !== 0 || run.stdout !== expected) {
      throw new Error(`${built} exited ${run.status}; expected output:\n${expected}\ngot:\n${run.stdout}${run.stderr}`);
    }
  }
  for (const source of sources.filter((s) => s.startsWith('src/readme-'))) {
    const built = source.replace(/^src\/(.*)\.mts$/, 'out/$1.mjs');
    log(`node ${built}`);
    const run = spawnSync(process.execPath, [built], { cwd: app, encoding: 'utf8' });
    if (run.status !== 0)
      throw new Error(`the README example ${built} exited ${run.status}:\n${run.stdout}${run.stderr}`);
  }
  ok = true;
  log('OK: the tarballs install, type-check under node16, nodenext and bundler (ESM and CJS), and run');
} finally {
  if (process.env.MARKETKIT_CONSUMER_KEEP === '1') console.error(`[check-consumer] scratch project kept at ${app}`);
  else {
    rmSync(work, { recursive: true, force: true });
    if (!ok) console.error('[check-consumer] failed; MARKETKIT_CONSUMER_KEEP=1 keeps the scratch project to look into');
  }
}

/** Runs tsc on the sources under one module mode; resolves to the errors, or undefined when it passes. */
async function typeCheck(variant, sources) {
  const options = { ...STRICTEST, module: variant.module, moduleResolution: variant.moduleResolution };
  if (variant.emit) Object.assign(options, { noEmit: false, outDir: 'out' });
  const file = `tsconfig.${variant.name}.json`;
  writeFileSync(join(app, file), JSON.stringify({ compilerOptions: options, files: sources }, null, 2));
  log(`tsc -p ${file}`);
  const tsc = spawn(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', file], { cwd: app });
  let output = '';
  tsc.stdout.on('data', (chunk) => {
    output += chunk;
  });
  tsc.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const [status] = await once(tsc, 'close');
  log(`tsc -p ${file}: ${status === 0 ? 'ok' : 'errors'}`);
  return status === 0 ? undefined : `tsc under ${variant.name} (${file}):\n${output}`;
}

/** Runs the tasks, at most `limit` at a time (CI has two cores); resolves to their results in order. */
async function inParallel(tasks, limit) {
  const results = [];
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return results;
}

/** The program as ESM and as CommonJS, and each README's ```ts blocks as ESM; returns their paths. */
function writeSources() {
  const program = readFileSync(join(root, 'scripts/consumer/program.ts'), 'utf8');
  writeFileSync(join(app, 'src/program.mts'), program);
  writeFileSync(join(app, 'src/program.cts'), program);
  const sources = ['src/program.mts', 'src/program.cts'];
  for (const p of PACKAGES) {
    const readme = readFileSync(join(root, 'packages', p, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    if (blocks.length === 0) throw new Error(`packages/${p}/README.md has no \`\`\`ts example`);
    blocks.forEach((code, i) => {
      const file = `src/readme-${p}-${i + 1}.mts`;
      writeFileSync(join(app, file), `${code}\nexport {};\n`);
      sources.push(file);
    });
  }
  return sources;
}

/** Installed with --ignore-scripts: reuse the workspace's build of the same version, or compile it. */
function installSqliteBinary() {
  const binary = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
  const same = versionIn(root, 'better-sqlite3') === versionIn(app, 'better-sqlite3');
  if (same && existsSync(join(root, binary)) && loads(join(root, binary))) {
    log('better-sqlite3: reusing the workspace build of the same version');
    mkdirSync(dirname(join(app, binary)), { recursive: true });
    copyFileSync(join(root, binary), join(app, binary));
  } else {
    log('better-sqlite3: npm rebuild (compiles from source, about a minute)');
    execFileSync('npm', ['rebuild', 'better-sqlite3'], { cwd: app, stdio: 'inherit' });
  }
}

/** True when this Node can load the native module (it was built for this Node's ABI). */
function loads(file) {
  return spawnSync(process.execPath, ['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(file)})`]).status === 0;
}
