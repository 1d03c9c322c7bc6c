import { decodeTileResponse, TraceModel, TraceTransport, traceWidgetId } from '../src/traceModel';
import type { TraceDescription } from '../src/types';

/** What encode_tiles in the server extension writes, for `rows` of [start, end, row, count, name, busy]. */
function encode(header: Record<string, unknown>, rows: number[][]): ArrayBuffer {
  const text = new TextEncoder().encode(JSON.stringify({ ...header, n: rows.length }));
  const pad = (8 - ((4 + text.length) % 8)) % 8;
  const kinds = [Float64Array, Float64Array, Int32Array, Uint32Array, Int32Array, Float64Array];
  const columns = kinds.map((Kind, c) => new Uint8Array(Kind.from(rows.map(r => r[c])).buffer));
  const size = 4 + text.length + pad + columns.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, text.length + pad, true);
  out.set(text, 4);
  out.fill(32, 4 + text.length, 4 + text.length + pad);
  let at = 4 + text.length + pad;
  for (const column of columns) {
    out.set(column, at);
    at += column.length;
  }
  return out.buffer;
}

const description: TraceDescription = {
  view_id: 'v1',
  title: 'collection 0 · 2 reports',
  rows: [{ group: 'rank 0 · GPU 0', label: 'stream 7', depth: 0, kind: 'gpu' }],
  names: ['gemm'],
  gaps: [0, 1024],
  origin_ns: '1682725898079292000',
  span_ns: 5000,
  event_count: 2,
  alignment: 'clock anchors',
  reports: [
    { label: 'rank 0', file_id: 'a', events: 1, shift_ns: 0, rows: [0, 1], source: 'kineto' },
    { label: 'rank 1', file_id: 'b', events: 1, shift_ns: 5, rows: [1, 1], source: 'kineto' }
  ]
};

class FakeTransport implements TraceTransport {
  calls: string[] = [];
  failNext: { status: number; detail: string } | null = null;
  async tiles(params: Record<string, number>): Promise<ArrayBuffer> {
    this.calls.push(`tiles ${params.t0}-${params.t1}@${params.width_px}`);
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
    return encode({ t0: params.t0, t1: params.t1, width_px: params.width_px, gap_ns: 0, id: 999 }, [[0, 10, 0, 1, 0, 10]]);
  }
  async event(params: Record<string, number>): Promise<unknown> {
    this.calls.push(`event ${params.row}@${params.t}`);
    return { type: 'event', id: '7', event: { name: 'gemm' } };
  }
  async summary(params: Record<string, number>): Promise<unknown> {
    this.calls.push(`summary ${params.t0}-${params.t1}`);
    return { type: 'summary', id: '8', summary: { kernels: 1 } };
  }
  async reopen(): Promise<TraceDescription> {
    this.calls.push('reopen');
    return { ...description, event_count: 3 };
  }
}

describe('tile answers', () => {
  it('split into a header and six column views without copying', () => {
    const body = encode({ t0: 0, t1: 100, width_px: 50, gap_ns: 64 }, [[1, 2, 3, 1, 0, 1], [5, 9, 0, 4, 0, 2]]);
    const { header, buffers } = decodeTileResponse(body);
    expect(header).toMatchObject({ t0: 0, t1: 100, width_px: 50, gap_ns: 64, n: 2 });
    expect(buffers.map(b => b.byteLength)).toEqual([16, 16, 8, 8, 8, 16]);
    expect(buffers.every(b => b.buffer === body)).toBe(true);
    expect(new Float64Array(body, buffers[1].byteOffset, 2)).toEqual(new Float64Array([2, 9]));
    expect(new Uint32Array(body, buffers[3].byteOffset, 2)).toEqual(new Uint32Array([1, 4]));
  });

  it('that are cut short or lie about their size are refused', () => {
    const body = encode({ t0: 0, t1: 1, width_px: 1, gap_ns: 0 }, [[1, 2, 3, 1, 0, 1]]);
    expect(() => decodeTileResponse(body.slice(0, body.byteLength - 8))).toThrow(/1 blocks need \d+ bytes/);
    expect(() => decodeTileResponse(new ArrayBuffer(2))).toThrow(/too few for a header/);
    const lying = body.slice(0);
    new DataView(lying).setUint32(0, 1 << 20, true);
    expect(() => decodeTileResponse(lying)).toThrow(/claims 1048576 bytes/);
  });
});

describe('the HTTP model the Timeline front end draws from', () => {
  it('answers a view message with the tiles a kernel would send, under the asked id', async () => {
    const transport = new FakeTransport();
    const model = new TraceModel(description, transport, 300);
    const got: unknown[][] = [];
    model.on('msg:custom', (...args) => got.push(args));
    await model.answer({ type: 'view', id: 3, t0: 0, t1: 15000, width_px: 900 });
    expect(transport.calls).toEqual(['tiles 0-15000@900']);
    const [msg, buffers] = got[0] as [Record<string, unknown>, DataView[]];
    expect(msg).toMatchObject({ type: 'tiles', id: 3, n: 1, t1: 15000 });
    expect(buffers).toHaveLength(6);
    expect(model.bytesReceived).toBeGreaterThan(44);
    expect(model.get('height')).toBe(300);
    expect(model.get('view')).toEqual([0, 5000]);
    expect(model.get('alignment')).toBe('clock anchors');
  });

  it('passes event and summary replies on with the id the front end chose', async () => {
    const transport = new FakeTransport();
    const model = new TraceModel(description, transport);
    const got: Record<string, unknown>[] = [];
    model.on('msg:custom', msg => got.push(msg as Record<string, unknown>));
    await model.answer({ type: 'event', id: 7, row: 0, t: 12.5, tolerance_ns: 0 });
    await model.answer({ type: 'summary', id: 8, t0: 0, t1: 100 });
    expect(transport.calls).toEqual(['event 0@12.5', 'summary 0-100']);
    expect(got.map(m => [m.type, m.id])).toEqual([['event', 7], ['summary', 8]]);
  });

  it('reopens a view the server forgot, once, and shows other failures as the error', async () => {
    const transport = new FakeTransport();
    const model = new TraceModel(description, transport);
    const errors: string[] = [];
    model.on('change:error', () => errors.push(model.get('error')));
    transport.failNext = { status: 410, detail: 'gone' };
    await model.answer({ type: 'view', id: 1, t0: 0, t1: 10, width_px: 10 });
    expect(transport.calls).toEqual(['tiles 0-10@10', 'reopen', 'tiles 0-10@10']);
    expect(model.get('event_count')).toBe(3);
    transport.failNext = { status: 400, detail: 'view message: width_px must be in 1..100000, got 0' };
    await model.answer({ type: 'view', id: 2, t0: 0, t1: 10, width_px: 0 });
    expect(errors).toEqual(['view message: width_px must be in 1..100000, got 0']);
    await model.answer({ type: 'view', id: 3, t0: 0, t1: 10, width_px: 10 });
    expect(model.get('error')).toBe('');
  });

  it('gives each requested trace one tab id, whatever the order of its files', () => {
    expect(traceWidgetId({ file_ids: ['b', 'a'] })).toBe(traceWidgetId({ file_ids: ['a', 'b'] }));
    expect(traceWidgetId({ collection_id: 'c1' })).toBe('nsight-trace-c-c1');
    expect(traceWidgetId({ collection_id: '../x y' })).toBe('nsight-trace-c-___x_y');
  });
});
