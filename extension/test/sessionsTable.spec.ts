import { canViewTrace, fileLabel, filterSessions, knownTags, nextSort, sortSessions, traceState } from '../src/sessionsTable';
import type { FileInfo, SessionInfo } from '../src/types';

function session(id: string, fields: Partial<SessionInfo> = {}): SessionInfo {
  return {
    session_id: id,
    tag: 'default',
    title: null,
    state: 'ENDED',
    created_at: '2026-11-27T10:00:00',
    ended_at: '2026-11-27T10:05:00',
    collections: [],
    ...fields
  };
}

const sessions = [
  session('s1', { title: 'Baseline', tag: 'train', created_at: '2026-11-27T09:00:00' }),
  session('s2', { title: 'fused kernels', tag: 'train', state: 'ACTIVE', ended_at: null, created_at: '2026-11-27T11:00:00' }),
  session('s3', { title: null, tag: 'eval', created_at: '2026-11-27T10:00:00', collections: [{} as never, {} as never] })
];

describe('the sessions table', () => {
  it('filters by words, tag and state together', () => {
    const ids = (found: SessionInfo[]) => found.map(s => s.session_id);
    expect(ids(filterSessions(sessions, { text: '', tag: '', state: '' }))).toEqual(['s1', 's2', 's3']);
    expect(ids(filterSessions(sessions, { text: 'TRAIN base', tag: '', state: '' }))).toEqual(['s1']);
    expect(ids(filterSessions(sessions, { text: '', tag: 'train', state: 'ACTIVE' }))).toEqual(['s2']);
    expect(ids(filterSessions(sessions, { text: 's3', tag: '', state: '' }))).toEqual(['s3']);
    expect(filterSessions(sessions, { text: 'nothing like it', tag: '', state: '' })).toEqual([]);
  });

  it('sorts by any column, newest first among equals', () => {
    const ids = (found: SessionInfo[]) => found.map(s => s.session_id);
    expect(ids(sortSessions(sessions, { key: 'created', ascending: false }))).toEqual(['s2', 's3', 's1']);
    expect(ids(sortSessions(sessions, { key: 'title', ascending: true }))).toEqual(['s3', 's1', 's2']);
    expect(ids(sortSessions(sessions, { key: 'tag', ascending: true }))).toEqual(['s3', 's2', 's1']);
    expect(ids(sortSessions(sessions, { key: 'collections', ascending: false }))).toEqual(['s3', 's2', 's1']);
    expect(ids(sortSessions(sessions, { key: 'ended', ascending: false }))).toEqual(['s2', 's3', 's1']);
    expect(sessions.map(s => s.session_id)).toEqual(['s1', 's2', 's3']); // a copy, not in place
  });

  it('reverses a column clicked twice and starts numbers and times newest first', () => {
    expect(nextSort({ key: 'created', ascending: false }, 'created')).toEqual({ key: 'created', ascending: true });
    expect(nextSort({ key: 'created', ascending: false }, 'title')).toEqual({ key: 'title', ascending: true });
    expect(nextSort({ key: 'title', ascending: true }, 'collections')).toEqual({ key: 'collections', ascending: false });
  });

  it('offers every known tag once, sorted, including the one in use', () => {
    expect(knownTags(['train', 'default'], sessions, 'new-one')).toEqual(['default', 'eval', 'new-one', 'train']);
    expect(knownTags([], [], undefined)).toEqual([]);
  });
});

describe('files', () => {
  const file = (kind: string): FileInfo => ({
    file_id: 'f',
    collection_id: 'c',
    collection_index: 0,
    process_name: 'trainer',
    instance: 'rank-3',
    filename: 'trainer_train_rank-3_ab12.json.gz',
    kind,
    collector: 'torch',
    size: 10,
    created_at: ''
  });

  it('are named by what ran where, and offer a trace only when they hold events', () => {
    expect(fileLabel(file('report'))).toBe('trainer · rank-3');
    expect(['report', 'sqlite', 'ranges', 'log'].map(k => canViewTrace(file(k)))).toEqual([true, true, true, false]);
  });

  it('say whether their trace is ready, and why not when their conversion failed', () => {
    const failed = { ...file('report'), conversion: { state: 'failed' as const, error: 'not JSON at byte 12' } };
    expect(canViewTrace(failed)).toBe(false);
    expect(traceState(failed)).toEqual({ text: 'cannot be converted', problem: 'not JSON at byte 12' });
    const skipped = { ...file('report'), conversion: { state: 'skipped' as const, error: null } };
    expect(canViewTrace(skipped)).toBe(false);
    expect(traceState({ ...file('report'), conversion: { state: 'converted', error: null } }).text).toBe('trace ready');
    expect(traceState(file('report'))).toEqual({ text: '', problem: null }); // an older service
  });
});
