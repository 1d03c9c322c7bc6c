import { detailOf, NsightAPIError } from '../src/errors';

describe('detailOf', () => {
  it('takes the gateway detail', () => {
    expect(detailOf({ detail: 'tag default has no agents' }, 'x')).toBe('tag default has no agents');
  });

  it('joins FastAPI validation errors with the field path', () => {
    const body = { detail: [{ loc: ['body', 'title'], msg: 'too long' }, { loc: [], msg: 'bad' }] };
    expect(detailOf(body, 'x')).toBe('title: too long; bad');
  });

  it("falls back to Jupyter's message, then to text, then to the status", () => {
    expect(detailOf({ message: 'Forbidden' }, 'x')).toBe('Forbidden');
    expect(detailOf('Bad Gateway\n', 'x')).toBe('Bad Gateway');
    expect(detailOf('', 'Not Found')).toBe('Not Found');
    expect(detailOf({ other: 1 }, 'Not Found')).toBe('Not Found');
  });

  it('keeps status and detail on the error', () => {
    const error = new NsightAPIError(409, 'already running');
    expect(error.message).toBe('already running (HTTP 409)');
    expect(error.detail).toBe('already running');
    expect(new NsightAPIError(0, 'offline').message).toBe('offline');
  });
});
