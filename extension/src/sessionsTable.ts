/**
 * The Sessions view's table logic: filtering, sorting and naming, kept apart from the
 * DOM so jest checks it in node.
 */

import type { FileInfo, SessionInfo, SessionState } from './types';

export type SortKey = 'title' | 'tag' | 'state' | 'created' | 'collections' | 'ended';

export interface SortOrder {
  key: SortKey;
  ascending: boolean;
}

export interface SessionFilter {
  /** Words that must all appear in the title, tag, id or state (any case). */
  text: string;
  /** Only this tag; '' for every tag. */
  tag: string;
  /** Only this state; '' for both. */
  state: '' | SessionState;
}

export const DEFAULT_SORT: SortOrder = { key: 'created', ascending: false };

export function filterSessions(sessions: SessionInfo[], filter: SessionFilter): SessionInfo[] {
  const words = filter.text.toLowerCase().split(/\s+/).filter(Boolean);
  return sessions.filter(s => {
    if (filter.tag && s.tag !== filter.tag) {
      return false;
    }
    if (filter.state && s.state !== filter.state) {
      return false;
    }
    const haystack = `${s.title ?? ''} ${s.tag} ${s.session_id} ${s.state}`.toLowerCase();
    return words.every(w => haystack.includes(w));
  });
}

function sortValue(s: SessionInfo, key: SortKey): string | number {
  switch (key) {
    case 'title':
      return (s.title ?? '').toLowerCase();
    case 'tag':
      return s.tag.toLowerCase();
    case 'state':
      return s.state;
    case 'collections':
      return s.collections.length;
    case 'ended':
      return s.ended_at ?? '\uffff'; // still running: after every ended one
    default:
      return s.created_at;
  }
}

/** A sorted copy; ties keep the newest first, so the order never jumps between polls. */
export function sortSessions(sessions: SessionInfo[], order: SortOrder): SessionInfo[] {
  const sign = order.ascending ? 1 : -1;
  return [...sessions].sort((a, b) => {
    const x = sortValue(a, order.key);
    const y = sortValue(b, order.key);
    if (x < y) {
      return -sign;
    }
    if (x > y) {
      return sign;
    }
    return a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0;
  });
}

/** Clicking a column sorts by it; clicking it again reverses the order. */
export function nextSort(current: SortOrder, clicked: SortKey): SortOrder {
  if (current.key === clicked) {
    return { key: clicked, ascending: !current.ascending };
  }
  return { key: clicked, ascending: clicked !== 'created' && clicked !== 'ended' && clicked !== 'collections' };
}

/** Every tag worth offering: the coordinator's, the sessions', and the current one. */
export function knownTags(tags: string[], sessions: SessionInfo[], current?: string): string[] {
  const all = new Set([...tags, ...sessions.map(s => s.tag)]);
  if (current) {
    all.add(current);
  }
  return [...all].sort((a, b) => a.localeCompare(b));
}

/** Files that hold timeline events and did not fail (or skip) their conversion. */
export function canViewTrace(file: FileInfo): boolean {
  const state = file.conversion?.state;
  if (state === 'failed' || state === 'skipped') {
    return false;
  }
  return file.kind === 'report' || file.kind === 'sqlite' || file.kind === 'ranges';
}

/** How a file's conversion reads in a row: short, with the reason when it failed. */
export function traceState(file: FileInfo): { text: string; problem: string | null } {
  switch (file.conversion?.state) {
    case 'converted':
      return { text: 'trace ready', problem: null };
    case 'failed':
      return { text: 'cannot be converted', problem: file.conversion.error ?? 'conversion failed' };
    case 'skipped':
      return { text: 'not a trace', problem: null };
    case 'pending':
      return { text: 'converting…', problem: null };
    default:
      return { text: '', problem: null };
  }
}

/** A short name that fits a row: what ran, where, and what recorded it. */
export function fileLabel(file: FileInfo): string {
  return `${file.process_name} · ${file.instance}`;
}
