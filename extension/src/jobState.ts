/**
 * What the panel makes of a job's or a collection's state: whether to keep polling,
 * what the progress bar shows, and which buttons make sense.
 */

import type { CollectionState, JobInfo, JobState } from './types';

export type Tone = 'ok' | 'busy' | 'bad' | 'idle';

const FINISHED: ReadonlySet<JobState> = new Set<JobState>(['succeeded', 'failed', 'cancelled']);

export function isFinished(state: JobState): boolean {
  return FINISHED.has(state);
}

export function jobTone(state: JobState): Tone {
  switch (state) {
    case 'succeeded':
      return 'ok';
    case 'failed':
      return 'bad';
    case 'cancelled':
      return 'idle';
    default:
      return 'busy';
  }
}

export function collectionTone(state: CollectionState): Tone {
  switch (state) {
    case 'COMPLETED':
      return 'ok';
    case 'PARTIAL':
    case 'FAILED':
      return 'bad';
    default:
      return 'busy';
  }
}

/** Fraction for a `<progress>` element, or null when it is indeterminate. */
export function progressFraction(job: JobInfo): number | null {
  if (job.state === 'succeeded') {
    return 1;
  }
  const { done, total } = job.progress;
  if (isFinished(job.state) || total <= 0) {
    return null;
  }
  return Math.min(1, Math.max(0, done / total));
}

export function progressText(job: JobInfo): string {
  if (job.state === 'failed') {
    return job.error ? `failed: ${job.error}` : 'failed';
  }
  if (isFinished(job.state)) {
    return job.state;
  }
  const { done, total, phase } = job.progress;
  const reports = total > 0 ? ` ${done}/${total} reports` : '';
  return `${phase}${reports}`;
}

export function canOpenNotebook(job: JobInfo): boolean {
  return job.state === 'succeeded' && job.notebook;
}

/** Poll fast while something moves, slowly otherwise (other clients may add jobs). */
export function nextPollDelay(jobs: readonly JobInfo[], busyMs = 1000, idleMs = 5000): number {
  return jobs.some(job => !isFinished(job.state)) ? busyMs : idleMs;
}
