import { elapsed, formatBytes, formatDuration, formatTime, parseServerTime } from '../src/format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 * 1024, '10 MiB'],
    [3.25 * 1024 ** 3, '3.3 GiB'],
    [5 * 1024 ** 5, '5120 TiB']
  ])('%d bytes is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('says it does not know instead of printing nonsense', () => {
    expect(formatBytes(-1)).toBe('?');
    expect(formatBytes(Number.NaN)).toBe('?');
  });
});

describe('formatDuration', () => {
  it.each([
    [0.0123, '12 ms'],
    [1.25, '1.3 s'],
    [42.4, '42 s'],
    [125, '2 min 05 s'],
    [3600 + 125, '1 h 02 min']
  ])('%d s is %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('server times', () => {
  it('reads a naive ISO time as UTC, as the services write it', () => {
    expect(parseServerTime('2024-05-01T10:00:00').toISOString()).toBe('2024-05-01T10:00:00.000Z');
    expect(parseServerTime('2024-05-01T10:00:00+02:00').toISOString()).toBe('2024-05-01T08:00:00.000Z');
  });

  it('shows seconds for today and the date otherwise', () => {
    const now = new Date(2024, 4, 1, 12, 0, 0);
    const today = new Date(2024, 4, 1, 9, 5, 7).toISOString();
    const earlier = new Date(2024, 3, 30, 23, 59, 0).toISOString();
    expect(formatTime(today, now)).toBe('09:05:07');
    expect(formatTime(earlier, now)).toBe('2024-04-30 23:59');
    expect(formatTime(null, now)).toBe('');
    expect(formatTime('not a time', now)).toBe('not a time');
  });

  it('measures to now while something still runs', () => {
    const now = new Date('2024-05-01T10:01:05Z');
    expect(elapsed('2024-05-01T10:00:00Z', null, now)).toBe('1 min 05 s');
    expect(elapsed('2024-05-01T10:00:00Z', '2024-05-01T10:00:02.5Z', now)).toBe('2.5 s');
    expect(elapsed(null, null, now)).toBe('');
  });
});
