import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
/** An import of fast-check (built from parts, so this file does not match itself). */
const IMPORTS_FAST_CHECK = new RegExp(`from '${'fast'}-check'`);

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name === 'dist') return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? testFiles(path) : e.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('the soak run (`vitest run property`, in .ci/run and npm run test:soak)', () => {
  it('selects every test file that runs fast-check properties: their names say "property"', () => {
    const files = [...testFiles(join(root, 'packages')), ...testFiles(join(root, 'examples'))];
    const missed = files
      .filter((f) => IMPORTS_FAST_CHECK.test(readFileSync(f, 'utf8')) && !f.includes('property'))
      .map((f) => relative(root, f));
    expect(files.length).toBeGreaterThan(50);
    expect(missed).toEqual([]);
  });

  it('is the filter .ci/run and npm run test:soak use', () => {
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).toContain('npx vitest run property\n');
    const scripts = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    expect(scripts['test:soak']).toBe('MARKETKIT_SOAK=1 vitest run property');
  });
});
