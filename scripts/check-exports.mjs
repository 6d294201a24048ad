// Judges each package's exports map with publint and @arethetypeswrong/cli (types resolve under every
// module resolution mode, ESM and CJS).
import { execFileSync } from 'node:child_process';

for (const dir of ['packages/core', 'packages/adapters', 'packages/testing', 'packages/express']) {
  console.log(`--- ${dir}`);
  execFileSync('npx', ['publint', '--strict', dir], { stdio: 'inherit' });
  execFileSync('npx', ['attw', '--pack', dir, '--profile', 'node16', '--format', 'table-flipped'], {
    stdio: 'inherit',
  });
}
