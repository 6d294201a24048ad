// Asserts what each published tarball holds (`npm pack --dry-run --json`), file by file: an unexpected file (a
// source map, a test, a stray build output) or a missing one fails. Each package ships its README.md and the
// repository's LICENSE (packages/*/LICENSE must equal ./LICENSE byte for byte). Run `npm run build` first.
// When the build output changes on purpose, change the list here.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Each entry point is built to ESM (.js), CommonJS (.cjs) and their declarations (.d.ts, .d.cts); no maps. */
const builds = (...entries) =>
  entries.flatMap((e) => ['.cjs', '.d.cts', '.d.ts', '.js'].map((ext) => `dist/${e}${ext}`));
const always = ['LICENSE', 'README.md', 'package.json'];

const EXPECTED = {
  '@marketkit/core': [...always, ...builds('index')],
  '@marketkit/adapters': [...always, ...builds('nats/index', 'postgres/index', 'sqlite/index', 'stripe/index')],
  '@marketkit/testing': [
    ...always,
    ...builds('conformance/index', 'index', 'provider-conformance/index', 'stripe-server/index', 'simulation/index'),
  ],
  '@marketkit/express': [...always, ...builds('index')],
};
const DIRS = {
  '@marketkit/core': 'core',
  '@marketkit/adapters': 'adapters',
  '@marketkit/testing': 'testing',
  '@marketkit/express': 'express',
};

const packed = JSON.parse(
  execFileSync('npm', ['pack', '--dry-run', '--json', ...Object.values(DIRS).flatMap((d) => ['-w', `packages/${d}`])], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
);

const problems = [];
const readOrNull = (file) => (existsSync(file) ? readFileSync(file) : null);
const license = readOrNull(join(root, 'LICENSE'));
if (license === null) problems.push('./LICENSE is missing');
for (const [name, expected] of Object.entries(EXPECTED)) {
  const tarball = packed.find((t) => t.name === name);
  if (tarball === undefined) {
    problems.push(`${name}: not packed`);
    continue;
  }
  const files = tarball.files.map((f) => f.path).sort();
  const want = [...expected].sort();
  for (const f of files) if (!want.includes(f)) problems.push(`${name}: ships an unexpected file ${f}`);
  for (const f of want) if (!files.includes(f)) problems.push(`${name}: does not ship ${f}`);
  for (const f of files.filter((f) => /\.c?js$/.test(f))) {
    const code = readFileSync(join(root, 'packages', DIRS[name], f), 'utf8');
    if (code.includes('sourceMappingURL=')) problems.push(`${name}: ${f} carries a source map (inline or linked)`);
  }
  const copy = readOrNull(join(root, 'packages', DIRS[name], 'LICENSE'));
  if (license !== null && copy !== null && !copy.equals(license)) {
    problems.push(`${name}: packages/${DIRS[name]}/LICENSE differs from ./LICENSE (copy it)`);
  }
  console.log(
    `${name}: ${files.length} files, ${(tarball.size / 1024).toFixed(0)} kB packed, ` +
      `${(tarball.unpackedSize / 1024).toFixed(0)} kB unpacked`,
  );
}
if (problems.length > 0) {
  console.error(`Tarball contents differ from scripts/check-tarballs.mjs:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('tarball file lists: OK');
