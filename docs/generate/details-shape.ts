import { z } from 'zod';

/** A JSON Schema node, as far as the details schemas use it. */
interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly oneOf?: readonly JsonSchema[];
  readonly anyOf?: readonly JsonSchema[];
  readonly description?: string;
}

/** A TypeScript-like rendering of a details shape, and the notes its fields carry (`.describe()` in the schema). */
export interface DetailsShape {
  readonly type: string;
  readonly notes: readonly string[];
}

/**
 * Renders an error's details schema (from `ERROR_DETAILS_SCHEMAS`) as a TypeScript-like type, with the
 * descriptions of the schema and its fields as notes, through zod's JSON Schema output.
 */
export function detailsShape(schema: z.ZodType): DetailsShape {
  const json = z.toJSONSchema(schema, { io: 'output' }) as JsonSchema;
  const notes: string[] = [];
  const variants = json.oneOf ?? json.anyOf;
  const type =
    variants === undefined ? render(json, notes) : variants.map((variant) => render(variant, notes)).join(' or ');
  return { type, notes: json.description === undefined ? notes : [json.description, ...notes] };
}

function render(node: JsonSchema, notes: string[]): string {
  const variants = node.oneOf ?? node.anyOf;
  if (variants !== undefined) return variants.map((v) => render(v, notes)).join(' | ');
  if (node.const !== undefined) return literal(node.const);
  if (node.enum !== undefined) return node.enum.map(literal).join(' | ');
  if (Array.isArray(node.type)) return node.type.map((t) => scalar(t)).join(' | ');
  if (node.type === 'array') {
    const item = render(node.items ?? {}, notes);
    return /[| ]/.test(item) && !item.startsWith('{') ? `(${item})[]` : `${item}[]`;
  }
  if (node.type === 'object') {
    const fields = Object.entries(node.properties ?? {}).map(([name, field]) => {
      if (field.description !== undefined) notes.push(`\`${name}\`: ${field.description}`);
      const optional = node.required?.includes(name) === true ? '' : '?';
      return `${name}${optional}: ${render(field, notes)}`;
    });
    return fields.length === 0 ? '{}' : `{ ${fields.join(', ')} }`;
  }
  return scalar(typeof node.type === 'string' ? node.type : 'unknown');
}

function scalar(type: string): string {
  return type === 'integer' ? 'number' : type;
}

function literal(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}
