/**
 * A recipe's JSON Schema turned into form fields, and form input turned back into
 * the `args` of a job.
 *
 * The mapping is deliberately small and predictable: booleans are checkboxes, enums
 * are selects, numbers and strings are inputs, a list of strings is one
 * comma-separated input, anything else is JSON typed by hand. The service validates
 * again; these messages only save the user a round trip and name the field at fault.
 */

import type { JSONSchema } from './types';

export type FieldKind = 'boolean' | 'integer' | 'number' | 'string' | 'enum' | 'string-list' | 'json';

/** Arguments the job's scope owns: the service refuses them in `args`. */
export const SCOPE_OWNED: ReadonlySet<string> = new Set(['input', 'output', 'force_overwrite']);

export interface FormField {
  name: string;
  label: string;
  description: string;
  kind: FieldKind;
  required: boolean;
  /** Options shared by every recipe (filters, csv, mode), shown after the recipe's own. */
  common: boolean;
  default?: unknown;
  options?: string[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
}

export type RawValue = string | boolean;

function typeOf(schema: JSONSchema): string | undefined {
  if (Array.isArray(schema.type)) {
    return schema.type.find(t => t !== 'null');
  }
  return schema.type;
}

function kindOf(schema: JSONSchema): FieldKind {
  if (Array.isArray(schema.enum) && schema.enum.every(v => typeof v === 'string')) {
    return 'enum';
  }
  const type = typeOf(schema);
  if (type === 'boolean' || type === 'integer' || type === 'number' || type === 'string') {
    return type;
  }
  if (type === 'array' && schema.items && typeOf(schema.items) === 'string' && !schema.items.enum) {
    return 'string-list';
  }
  return 'json';
}

function labelOf(name: string, schema: JSONSchema): string {
  const title = schema.title && schema.title !== name ? schema.title : name;
  const spaced = title.replace(/_/g, ' ');
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

export function fieldsFromSchema(schema: JSONSchema): FormField[] {
  const required = new Set(schema.required ?? []);
  const fields: FormField[] = [];
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (SCOPE_OWNED.has(name)) {
      continue;
    }
    const kind = kindOf(prop);
    const field: FormField = {
      name,
      label: labelOf(name, prop),
      description: prop.description ?? '',
      kind,
      required: required.has(name),
      common: prop['x-common'] === true
    };
    if (prop.default !== undefined) {
      field.default = prop.default;
    }
    if (kind === 'enum') {
      field.options = (prop.enum as string[]).slice();
    }
    const min = prop.minimum ?? prop.exclusiveMinimum;
    const max = prop.maximum ?? prop.exclusiveMaximum;
    if (min !== undefined) {
      field.minimum = min;
    }
    if (max !== undefined) {
      field.maximum = max;
    }
    if (prop.pattern) {
      field.pattern = prop.pattern;
    }
    fields.push(field);
  }
  // The recipe's own arguments first: they are why the user opened this recipe.
  return [...fields.filter(f => !f.common), ...fields.filter(f => f.common)];
}

/** What the input shows before the user types: the default, rendered for its control. */
export function initialValue(field: FormField): RawValue {
  if (field.kind === 'boolean') {
    return field.default === true;
  }
  if (field.default === undefined || field.default === null) {
    return '';
  }
  if (field.kind === 'string-list' && Array.isArray(field.default)) {
    return field.default.join(', ');
  }
  if (field.kind === 'json') {
    return JSON.stringify(field.default);
  }
  return String(field.default);
}

export interface Parsed {
  /** `undefined`: leave the argument out and let the recipe's default apply. */
  value?: unknown;
  error?: string;
}

function checkRange(field: FormField, n: number): string | undefined {
  if (field.minimum !== undefined && n < field.minimum) {
    return `${field.label} must be at least ${field.minimum}`;
  }
  if (field.maximum !== undefined && n > field.maximum) {
    return `${field.label} must be at most ${field.maximum}`;
  }
  return undefined;
}

export function parseField(field: FormField, raw: RawValue): Parsed {
  if (field.kind === 'boolean') {
    return { value: raw === true };
  }
  const text = String(raw).trim();
  if (!text) {
    return field.required ? { error: `${field.label} is required` } : {};
  }
  switch (field.kind) {
    case 'integer': {
      if (!/^[+-]?\d+$/.test(text)) {
        return { error: `${field.label} must be a whole number, not "${text}"` };
      }
      const n = Number(text);
      const error = checkRange(field, n);
      return error ? { error } : { value: n };
    }
    case 'number': {
      const n = Number(text);
      if (!Number.isFinite(n)) {
        return { error: `${field.label} must be a number, not "${text}"` };
      }
      const error = checkRange(field, n);
      return error ? { error } : { value: n };
    }
    case 'enum':
      return field.options?.includes(text)
        ? { value: text }
        : { error: `${field.label} must be one of ${(field.options ?? []).join(', ')}` };
    case 'string-list': {
      const items = text
        .split(',')
        .map(s => s.trim())
        .filter(Boolean);
      return { value: items };
    }
    case 'json':
      try {
        return { value: JSON.parse(text) };
      } catch {
        return { error: `${field.label} must be JSON (e.g. [1, 2] or {"a": 1})` };
      }
    default:
      if (field.pattern && !new RegExp(field.pattern).test(text)) {
        return { error: `${field.label} does not have the expected form (${field.pattern})` };
      }
      return { value: text };
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface FormResult {
  args: Record<string, unknown>;
  /** Field name -> message; empty when the form can be submitted. */
  errors: Record<string, string>;
}

/**
 * The job's `args` from the form. Values equal to the default are left out, so the
 * job record shows only what the user chose.
 */
export function collectArgs(fields: readonly FormField[], raw: Record<string, RawValue>): FormResult {
  const args: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const parsed = parseField(field, raw[field.name] ?? initialValue(field));
    if (parsed.error) {
      errors[field.name] = parsed.error;
    } else if (parsed.value !== undefined && !sameValue(parsed.value, field.default)) {
      args[field.name] = parsed.value;
    }
  }
  if (args.filter_time !== undefined && args.filter_nvtx !== undefined) {
    errors.filter_nvtx = 'Filter nvtx and Filter time exclude each other: keep one';
  }
  return { args, errors };
}
