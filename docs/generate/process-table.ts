import type { ProcessDefinition, ProcessTransition } from '@marketkit/core';
import { markdownTable } from './generated-section.js';

/**
 * A transaction process as two tables: its states (terminal or not, what each means), and one row per state and
 * transition leaving it: where it goes, which roles may fire it (engine transitions: Marketkit only; timed ones:
 * the worker, after the delay), its guards and its effects. Rendered from the validated definition itself.
 */
export function processTables(process: ProcessDefinition): string {
  const states = markdownTable(
    ['state', 'terminal', 'meaning'],
    Object.entries(process.states).map(([name, state]) => [
      `\`${name}\`${name === process.initial ? ' (initial)' : ''}`,
      state.terminal ? 'yes' : 'no',
      state.description ?? '',
    ]),
  );
  const rows = Object.keys(process.states).flatMap((state) =>
    process.transitions
      .filter((t) => fromStates(t).includes(state))
      .map((t) => [`\`${state}\``, `\`${t.name}\``, `\`${t.to}\``, whoFires(t), list(t.guards), list(t.effects)]),
  );
  const transitions = markdownTable(['from', 'transition', 'to', 'who may fire it', 'guards', 'effects'], rows);
  return `${states}\n\n${transitions}`;
}

function fromStates(t: ProcessTransition): readonly string[] {
  return typeof t.from === 'string' ? [t.from] : t.from;
}

function whoFires(t: ProcessTransition): string {
  if (t.engine) return 'Marketkit only (engine: `orders.transition` refuses it, whatever the role)';
  const roles = t.actors.map((r) => `\`${r}\``).join(', ');
  return t.afterMs === undefined ? roles : `${roles}; timed: the worker fires it ${duration(t.afterMs)} after entry`;
}

function list(names: readonly string[]): string {
  return names.length === 0 ? '—' : names.map((n) => `\`${n}\``).join(', ');
}

/** `ms` in the largest unit that divides it: `15 min`, `72 h`. */
export function duration(ms: number): string {
  const units = [
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ] as const;
  for (const [size, unit] of units) if (ms % size === 0) return `${ms / size} ${unit}`;
  return `${ms} ms`;
}
