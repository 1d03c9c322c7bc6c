import { collectArgs, fieldsFromSchema, FormField, initialValue, parseField } from '../src/schemaForm';
import type { JSONSchema } from '../src/types';

/** The shape `RecipeSpec.json_schema()` produces (python_sampling_sum plus a few kinds). */
const schema: JSONSchema = {
  type: 'object',
  required: ['input'],
  properties: {
    input: { type: 'array', items: { type: 'string' }, minItems: 1, 'x-common': true },
    output: { type: 'string', 'x-common': true },
    force_overwrite: { type: 'boolean', default: false, 'x-common': true },
    csv: { type: 'boolean', default: false, 'x-common': true },
    mode: { type: 'string', enum: ['none', 'concurrent', 'dask'], default: 'none', 'x-common': true },
    filter_time: { type: 'string', pattern: '^\\s*\\d*\\s*/\\s*\\d*\\s*$', 'x-common': true },
    filter_nvtx: { type: 'string', 'x-common': true },
    by_line: { title: 'by_line', type: 'boolean', default: false, description: 'Keep line numbers.' },
    top: { title: 'top', type: 'integer', minimum: 0, default: 0 },
    ratio: { type: 'number', maximum: 1 },
    sources: { type: 'array', items: { type: 'string' }, default: ['nvtx', 'annotation'] },
    name: { type: ['string', 'null'] },
    weights: { type: 'object' }
  }
};

const byName = (fields: FormField[]): Record<string, FormField> =>
  Object.fromEntries(fields.map(f => [f.name, f]));

describe('fieldsFromSchema', () => {
  const fields = fieldsFromSchema(schema);
  const f = byName(fields);

  it('leaves out the arguments the job scope owns', () => {
    expect(Object.keys(f)).not.toEqual(expect.arrayContaining(['input']));
    expect(f.input).toBeUndefined();
    expect(f.output).toBeUndefined();
    expect(f.force_overwrite).toBeUndefined();
  });

  it('lists the recipe arguments before the common options', () => {
    const names = fields.map(x => x.name);
    expect(names.slice(0, 6)).toEqual(['by_line', 'top', 'ratio', 'sources', 'name', 'weights']);
    expect(names.slice(6)).toEqual(['csv', 'mode', 'filter_time', 'filter_nvtx']);
    expect(f.csv.common).toBe(true);
    expect(f.top.common).toBe(false);
  });

  it('maps each JSON type to a control kind', () => {
    expect(f.by_line.kind).toBe('boolean');
    expect(f.top.kind).toBe('integer');
    expect(f.ratio.kind).toBe('number');
    expect(f.mode.kind).toBe('enum');
    expect(f.mode.options).toEqual(['none', 'concurrent', 'dask']);
    expect(f.sources.kind).toBe('string-list');
    expect(f.name.kind).toBe('string');
    expect(f.weights.kind).toBe('json');
  });

  it('keeps bounds, patterns, defaults and a readable label', () => {
    expect(f.top.minimum).toBe(0);
    expect(f.ratio.maximum).toBe(1);
    expect(f.filter_time.pattern).toBeDefined();
    expect(f.by_line.label).toBe('By line');
    expect(f.by_line.description).toBe('Keep line numbers.');
    expect(initialValue(f.sources)).toBe('nvtx, annotation');
    expect(initialValue(f.by_line)).toBe(false);
    expect(initialValue(f.top)).toBe('0');
    expect(initialValue(f.name)).toBe('');
  });
});

describe('parseField', () => {
  const f = byName(fieldsFromSchema(schema));

  it('refuses a fraction for an integer, naming the field', () => {
    expect(parseField(f.top, '2.5')).toEqual({ error: 'Top must be a whole number, not "2.5"' });
  });

  it('enforces minimum and maximum', () => {
    expect(parseField(f.top, '-1').error).toBe('Top must be at least 0');
    expect(parseField(f.ratio, '1.5').error).toBe('Ratio must be at most 1');
    expect(parseField(f.ratio, '0.25')).toEqual({ value: 0.25 });
  });

  it('checks a pattern', () => {
    expect(parseField(f.filter_time, '100/200')).toEqual({ value: '100/200' });
    expect(parseField(f.filter_time, 'soon').error).toMatch(/^Filter time does not have the expected form/);
  });

  it('splits a comma-separated list and drops blanks', () => {
    expect(parseField(f.sources, ' nvtx, ,cpu_op ')).toEqual({ value: ['nvtx', 'cpu_op'] });
  });

  it('parses JSON and explains bad JSON', () => {
    expect(parseField(f.weights, '{"a": 1}')).toEqual({ value: { a: 1 } });
    expect(parseField(f.weights, '{a: 1}').error).toMatch(/^Weights must be JSON/);
  });

  it('leaves an empty optional field out, and requires a required one', () => {
    expect(parseField(f.name, '  ')).toEqual({});
    const required: FormField = { ...f.name, required: true };
    expect(parseField(required, '').error).toBe('Name is required');
  });

  it('refuses a value that is not an option', () => {
    expect(parseField(f.mode, 'gpu').error).toBe('Mode must be one of none, concurrent, dask');
  });
});

describe('collectArgs', () => {
  const fields = fieldsFromSchema(schema);

  it('sends only the values that differ from the defaults', () => {
    const { args, errors } = collectArgs(fields, { top: '10', by_line: false, sources: 'nvtx, annotation', mode: 'none' });
    expect(errors).toEqual({});
    expect(args).toEqual({ top: 10 });
  });

  it('sends a checked box and a changed list', () => {
    const { args } = collectArgs(fields, { by_line: true, sources: 'cpu_op' });
    expect(args).toEqual({ by_line: true, sources: ['cpu_op'] });
  });

  it('reports every bad field at once', () => {
    const { errors } = collectArgs(fields, { top: 'x', ratio: '7' });
    expect(Object.keys(errors).sort()).toEqual(['ratio', 'top']);
  });

  it('refuses both filters together', () => {
    const { errors } = collectArgs(fields, { filter_time: '1/2', filter_nvtx: 'step' });
    expect(errors.filter_nvtx).toMatch(/exclude each other/);
  });
});
