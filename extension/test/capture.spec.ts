import { readCapture } from '../src/capture';

const blank = { steps: '', skip: '', maxOverhead: '', preset: '', options: '' };

describe('readCapture', () => {
  it('leaves everything to the coordinator when the form is blank', () => {
    expect(readCapture(blank)).toEqual({ ok: true, capture: {} });
  });

  it('reads steps, skip, overhead, preset and options', () => {
    expect(
      readCapture({ steps: '3', skip: '10', maxOverhead: '5%', preset: 'shapes', options: 'record-shapes=true  rate=250' })
    ).toEqual({
      ok: true,
      capture: { steps: 3, skip: 10, max_overhead_pct: 5, preset: 'shapes', options: { record_shapes: 'true', rate: '250' } }
    });
  });

  it.each([
    [{ ...blank, steps: '2.5' }, 'Steps must be a whole number of at least 1'],
    [{ ...blank, steps: '0' }, 'Steps must be a whole number of at least 1'],
    [{ ...blank, skip: '4' }, 'Skip only applies with Steps'],
    [{ ...blank, steps: '3', skip: '-1' }, 'Skip must be a whole number of at least 0'],
    [{ ...blank, maxOverhead: 'lots' }, 'Max overhead is a percentage above 0'],
    [{ ...blank, options: 'record_shapes' }, 'Options are NAME=VALUE words'],
    [{ ...blank, options: '=true' }, 'Options are NAME=VALUE words']
  ])('refuses %j with a sentence', (fields, error) => {
    const result = readCapture(fields);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toContain(error);
  });
});
