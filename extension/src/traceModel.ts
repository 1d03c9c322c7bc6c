/**
 * The "View trace" tab draws with the notebook Timeline's own front end
 * (`nsight_lab/jupyter/widgets/static/timeline.js`, loaded from the server), which
 * talks to an anywidget model: `get`/`set`/`on`/`send`. `TraceModel` is that model
 * over HTTP: a `view` message becomes a tiles request to the server extension, and
 * the binary answer comes back as the same `msg:custom` (header, six buffers) a
 * kernel would send. So both front ends draw, zoom and explain events alike.
 */

import type { TraceDescription, TraceRequest } from './types';

/** A stable id per request, so opening the same trace twice shows the open tab. */
export function traceWidgetId(request: TraceRequest): string {
  const key = 'collection_id' in request ? `c-${request.collection_id}` : `f-${[...request.file_ids].sort().join('-')}`;
  return `nsight-trace-${key}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

export const TILE_COLUMNS = ['start', 'end', 'row', 'count', 'name', 'busy'] as const;
const COLUMN_BYTES = [8, 8, 4, 4, 4, 8];

export interface TileHeader {
  t0: number;
  t1: number;
  width_px: number;
  gap_ns: number;
  n: number;
  [key: string]: unknown;
}

/**
 * `uint32 header length | header JSON | padding | six column buffers`, as
 * `encode_tiles` in the server extension writes it, split without copying.
 */
export function decodeTileResponse(body: ArrayBuffer): { header: TileHeader; buffers: DataView[] } {
  if (body.byteLength < 4) {
    throw new Error(`tiles: the answer holds ${body.byteLength} bytes, too few for a header`);
  }
  const headerLength = new DataView(body).getUint32(0, true);
  if (4 + headerLength > body.byteLength) {
    throw new Error(`tiles: the header claims ${headerLength} bytes but only ${body.byteLength - 4} follow`);
  }
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(body, 4, headerLength))) as TileHeader;
  const n = Number(header.n);
  let at = 4 + headerLength;
  const expected = at + COLUMN_BYTES.reduce((sum, width) => sum + width * n, 0);
  if (!Number.isInteger(n) || n < 0 || expected !== body.byteLength) {
    throw new Error(`tiles: ${n} blocks need ${expected} bytes, the answer has ${body.byteLength}`);
  }
  const buffers = COLUMN_BYTES.map(width => {
    const view = new DataView(body, at, width * n);
    at += width * n;
    return view;
  });
  return { header, buffers };
}

/** How the model reaches the server: the three questions of a trace view. */
export interface TraceTransport {
  tiles(params: Record<string, number>): Promise<ArrayBuffer>;
  event(params: Record<string, number>): Promise<unknown>;
  summary(params: Record<string, number>): Promise<unknown>;
  /** Open the view again (the server forgot it: restarted, or too many views open). */
  reopen(): Promise<TraceDescription>;
}

type Listener = (...args: unknown[]) => void;

function statusOf(error: unknown): number {
  return typeof error === 'object' && error !== null && 'status' in error ? Number((error as { status: unknown }).status) : 0;
}

export function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'detail' in error) {
    return String((error as { detail: unknown }).detail);
  }
  return error instanceof Error ? error.message : String(error);
}

/** An anywidget-shaped model of one opened trace view. */
export class TraceModel {
  private readonly values = new Map<string, unknown>();
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Bytes of tile answers received, for the benchmark and the status line. */
  bytesReceived = 0;

  constructor(
    description: TraceDescription,
    private readonly transport: TraceTransport,
    height = 420
  ) {
    this.describe(description);
    this.values.set('view', [0, description.span_ns]);
    this.values.set('height', height);
    this.values.set('error', '');
  }

  private describe(description: TraceDescription): void {
    this.values.set('title', description.title);
    this.values.set('rows', description.rows);
    this.values.set('names', description.names);
    this.values.set('gaps', description.gaps);
    this.values.set('span_ns', description.span_ns);
    this.values.set('event_count', description.event_count);
    this.values.set('alignment', description.reports.length > 1 ? description.alignment : '');
  }

  get(name: string): any {
    return this.values.get(name);
  }

  set(name: string, value: unknown): void {
    const changed = this.values.get(name) !== value;
    this.values.set(name, value);
    if (changed) {
      this.emit(`change:${name}`);
    }
  }

  save_changes(): void {
    // Nothing to sync: the server keeps no per-view state.
  }

  on(event: string, listener: Listener): void {
    if (!this.listeners.has(event)) {
      this.listeners.set(event, new Set());
    }
    this.listeners.get(event)!.add(listener);
  }

  off(event: string, listener?: Listener): void {
    if (listener) {
      this.listeners.get(event)?.delete(listener);
    } else {
      this.listeners.delete(event);
    }
  }

  emit(event: string, ...args: unknown[]): void {
    this.listeners.get(event)?.forEach(listener => listener(...args));
  }

  /** A message of the front end: answered asynchronously as `msg:custom`. */
  send(message: Record<string, unknown>): void {
    void this.answer(message);
  }

  async answer(message: Record<string, unknown>, retried = false): Promise<void> {
    const { type, ...params } = message;
    const numbers: Record<string, number> = {};
    for (const [key, value] of Object.entries(params)) {
      numbers[key] = Number(value);
    }
    try {
      if (type === 'view') {
        const body = await this.transport.tiles(numbers);
        this.bytesReceived += body.byteLength;
        const { header, buffers } = decodeTileResponse(body);
        this.set('error', '');
        this.emit('msg:custom', { ...header, type: 'tiles', id: message.id }, buffers);
      } else if (type === 'event' || type === 'summary') {
        const reply = (await (type === 'event' ? this.transport.event(numbers) : this.transport.summary(numbers))) as Record<string, unknown>;
        this.set('error', '');
        this.emit('msg:custom', { ...reply, type, id: message.id }, []);
      }
    } catch (error) {
      if (statusOf(error) === 410 && !retried) {
        this.describe(await this.transport.reopen());
        return this.answer(message, true);
      }
      this.set('error', messageOf(error));
    }
  }
}
