/**
 * Formatting for the panel: sizes in binary units (what `ls -h` and the CLI print),
 * durations that stay readable from milliseconds to hours, and times shown in the
 * browser's own time zone while the server speaks UTC.
 */

const SIZE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return '?';
  }
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) {
    return `${value} B`;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${SIZE_UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '?';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  }
  const whole = Math.round(seconds);
  if (whole < 3600) {
    const s = whole % 60;
    return `${Math.floor(whole / 60)} min ${String(s).padStart(2, '0')} s`;
  }
  const minutes = Math.floor(whole / 60) % 60;
  return `${Math.floor(whole / 3600)} h ${String(minutes).padStart(2, '0')} min`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Server times are ISO 8601; a naive one (no zone) is UTC, as the services write it. */
export function parseServerTime(iso: string): Date {
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`;
  return new Date(zoned);
}

/** `HH:MM:SS` today, `YYYY-MM-DD HH:MM` on other days (local time). */
export function formatTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) {
    return '';
  }
  const t = parseServerTime(iso);
  if (Number.isNaN(t.getTime())) {
    return iso;
  }
  const sameDay =
    t.getFullYear() === now.getFullYear() &&
    t.getMonth() === now.getMonth() &&
    t.getDate() === now.getDate();
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  if (sameDay) {
    return `${clock}:${pad(t.getSeconds())}`;
  }
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${clock}`;
}

/** How long something ran: from start to end, or to `now` while it still runs. */
export function elapsed(
  startIso: string | null | undefined,
  endIso: string | null | undefined,
  now: Date = new Date()
): string {
  if (!startIso) {
    return '';
  }
  const start = parseServerTime(startIso).getTime();
  const end = endIso ? parseServerTime(endIso).getTime() : now.getTime();
  return formatDuration(Math.max(0, (end - start) / 1000));
}
