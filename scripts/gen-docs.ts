// Rewrites the sections of docs/ generated from code (`npm run docs:gen`); with --check, only says which differ
// and exits 1 (docs/test/generated-docs.test.ts checks the same in the test suite).
import { readFileSync, writeFileSync } from 'node:fs';
import { DOC_SECTIONS } from '../docs/generate/doc-sections.js';
import { readGeneratedSection, writeGeneratedSection } from '../docs/generate/generated-section.js';

const check = process.argv.includes('--check');
let stale = 0;
for (const section of DOC_SECTIONS) {
  const path = new URL(`../docs/${section.doc}`, import.meta.url);
  const doc = readFileSync(path, 'utf8');
  const body = section.render();
  if (readGeneratedSection(doc, section.name) === body) continue;
  stale++;
  if (check) console.error(`docs/${section.doc}: section ${section.name} differs from the code (npm run docs:gen)`);
  else {
    writeFileSync(path, writeGeneratedSection(doc, section.name, body));
    console.log(`docs/${section.doc}: rewrote ${section.name}`);
  }
}
if (check && stale > 0) process.exit(1);
