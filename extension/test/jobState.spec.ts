import { canOpenNotebook, collectionTone, isFinished, jobTone, nextPollDelay, progressFraction, progressText } from '../src/jobState';
import type { JobInfo } from '../src/types';

function job(overrides: Partial<JobInfo>): JobInfo {
  return {
    job_id: 'j1',
    recipe: 'nvtx_sum',
    tag: 'default',
    session_id: 's1',
    collection_id: null,
    state: 'queued',
    created_at: '2024-05-01T10:00:00Z',
    started_at: null,
    finished_at: null,
    progress: { done: 0, total: 0, phase: 'queued' },
    error: null,
    notebook: true,
    ...overrides
  };
}

describe('job states', () => {
  it('knows which states are final', () => {
    expect(['queued', 'running'].map(s => isFinished(s as JobInfo['state']))).toEqual([false, false]);
    expect(['succeeded', 'failed', 'cancelled'].map(s => isFinished(s as JobInfo['state']))).toEqual([true, true, true]);
    expect(jobTone('running')).toBe('busy');
    expect(jobTone('failed')).toBe('bad');
    expect(collectionTone('PARTIAL')).toBe('bad');
    expect(collectionTone('STOPPING')).toBe('busy');
  });

  it('shows mapping progress as a fraction and in words', () => {
    const running = job({ state: 'running', progress: { done: 1, total: 4, phase: 'mapping' } });
    expect(progressFraction(running)).toBe(0.25);
    expect(progressText(running)).toBe('mapping 1/4 reports');
  });

  it('is indeterminate before the reports are counted', () => {
    const staging = job({ state: 'running', progress: { done: 0, total: 0, phase: 'staging' } });
    expect(progressFraction(staging)).toBeNull();
    expect(progressText(staging)).toBe('staging');
  });

  it('says why a job failed', () => {
    const failed = job({ state: 'failed', error: 'no reports in session s1' });
    expect(progressText(failed)).toBe('failed: no reports in session s1');
    expect(progressFraction(failed)).toBeNull();
    expect(progressFraction(job({ state: 'succeeded' }))).toBe(1);
  });

  it('offers the notebook only for a succeeded job that made one', () => {
    expect(canOpenNotebook(job({ state: 'succeeded' }))).toBe(true);
    expect(canOpenNotebook(job({ state: 'succeeded', notebook: false }))).toBe(false);
    expect(canOpenNotebook(job({ state: 'running' }))).toBe(false);
  });

  it('polls fast while any job moves and slowly otherwise', () => {
    expect(nextPollDelay([job({ state: 'succeeded' }), job({ state: 'running' })])).toBe(1000);
    expect(nextPollDelay([job({ state: 'succeeded' })])).toBe(5000);
    expect(nextPollDelay([])).toBe(5000);
  });
});
