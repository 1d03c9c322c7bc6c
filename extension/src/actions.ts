/**
 * What the sidebar and the Sessions view both do, in one place: what the host
 * application provides, and opening a job's notebook or HTML report.
 */

import { api } from './api';
import { NsightAPIError } from './errors';
import type { JobInfo, SessionInfo, TraceRequest } from './types';

export interface NsightHost {
  openPath(path: string): Promise<void>;
  /** Open (or show) a main-area Timeline tab for stored reports. */
  viewTrace(request: TraceRequest, label: string): void;
  /** Open (or show) the main-area Sessions view, at one session when given. */
  openSessions(sessionId?: string): void;
  /** Show the sidebar's recipe form, its reports scoped to this session. */
  analyse(session: SessionInfo): Promise<void>;
}

export function message(error: unknown): string {
  if (error instanceof NsightAPIError) {
    return error.detail;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Open a finished job's notebook in JupyterLab or its HTML report in a new tab. */
export async function openJobOutput(host: NsightHost, job: JobInfo, what: 'notebook' | 'html'): Promise<void> {
  // A tab opened after an await is a popup to the browser; open it now, fill it later.
  const tab = what === 'html' ? window.open('', '_blank') : null;
  try {
    const opened = await api.openNotebook(job.job_id);
    if (what === 'notebook') {
      await host.openPath(opened.path);
    } else if (opened.html_url && tab) {
      tab.location.href = opened.html_url;
    } else {
      throw new Error(`job ${job.job_id} has no HTML report`);
    }
  } catch (error) {
    tab?.close();
    throw error;
  }
}
