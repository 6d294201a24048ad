/**
 * `npx tsx bench/src/soak/heap-diff.ts before.heapsnapshot after.heapsnapshot [top]`: what grew between two V8 heap
 * snapshots (`npm run bench -- soak --heap-snapshots` writes one at the end of the warm-up and one at the end of the
 * load), as object counts and self sizes per kind and constructor or string, largest growth first.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  readonly snapshot: {
    readonly meta: { readonly node_fields: string[]; readonly node_types: [string[], ...unknown[]] };
  };
  readonly nodes: number[];
  readonly strings: string[];
}

/** Count and self size per `type:name` (strings grouped by their first 40 characters' shape). */
function tally(path: string): Map<string, { count: number; size: number }> {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const type = types[s.nodes[i + iType]!] ?? '?';
    let name = s.strings[s.nodes[i + iName]!] ?? '?';
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string')
      name = name.slice(0, 40).replace(/[0-9A-Za-z]{6,}/g, '…');
    const key = `${type}:${name}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += s.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

const [before, after, top = '25'] = process.argv.slice(2);
if (before === undefined || after === undefined) {
  console.error('usage: heap-diff.ts before.heapsnapshot after.heapsnapshot [top]');
  process.exit(2);
}
const a = tally(before);
const b = tally(after);
const keys = new Set([...a.keys(), ...b.keys()]);
const rows = [...keys].map((k) => {
  const x = a.get(k) ?? { count: 0, size: 0 };
  const y = b.get(k) ?? { count: 0, size: 0 };
  return { k, dCount: y.count - x.count, dSize: y.size - x.size, size: y.size };
});
const total = (m: Map<string, { size: number }>) => [...m.values()].reduce((t, e) => t + e.size, 0);
console.log(`total self size: ${(total(a) / 1e6).toFixed(2)} MB → ${(total(b) / 1e6).toFixed(2)} MB`);
for (const r of rows.sort((p, q) => q.dSize - p.dSize).slice(0, Number(top)))
  console.log(`${(r.dSize / 1024).toFixed(1).padStart(9)} KiB  ${String(r.dCount).padStart(7)} objects  ${r.k}`);
