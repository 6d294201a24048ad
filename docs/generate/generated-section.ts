/**
 * A generated section of a doc: the text between `<!-- <name>:start -->` and `<!-- <name>:end -->`. `npm run
 * docs:gen` rewrites it; a test fails when the checked-in text differs from what the code generates.
 */

function markers(name: string): { readonly start: string; readonly end: string } {
  return { start: `<!-- ${name}:start -->`, end: `<!-- ${name}:end -->` };
}

/** The text between the markers of section `name`, without the newlines next to the markers. */
export function readGeneratedSection(doc: string, name: string): string {
  const { start, end } = markers(name);
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from < 0 || to < from) throw new Error(`The doc has no generated section ${name} (${start} … ${end}).`);
  return doc
    .slice(from + start.length, to)
    .replace(/^\n/, '')
    .replace(/\n$/, '');
}

/** `doc` with the text between the markers of section `name` replaced by `body`. */
export function writeGeneratedSection(doc: string, name: string, body: string): string {
  const { start, end } = markers(name);
  readGeneratedSection(doc, name); // throws when the markers are missing
  const from = doc.indexOf(start) + start.length;
  return `${doc.slice(0, from)}\n${body}\n${doc.slice(doc.indexOf(end))}`;
}

/** A markdown table: a header row and rows of cells, `|` in cells escaped. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
