/**
 * Every HTTP call of the extension, and only here. The browser talks to the Jupyter
 * server (`<base>/nsight-lab/...`), which adds the user's gateway credentials; the
 * page never sees an API key.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { detailOf, NsightAPIError } from './errors';
import type {
  CollectionInfo,
  ConnectionStatus,
  FileInfo,
  JobCreate,
  JobInfo,
  OpenedNotebook,
  RecipeCatalogue,
  RecipeDetail,
  SessionInfo,
  TagStatus
} from './types';

export function serverUrl(...parts: string[]): string {
  return URLExt.join(ServerConnection.makeSettings().baseUrl, 'nsight-lab', ...parts);
}

export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'nsight-lab', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new NsightAPIError(0, `cannot reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  let body: unknown = text;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the message
    }
  }
  if (!response.ok) {
    throw new NsightAPIError(response.status, detailOf(body, response.statusText || 'request failed'));
  }
  return (text ? body : undefined) as T;
}

function post<T>(endPoint: string, body?: unknown): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  });
}

import type { CaptureRequest } from './capture';

const q = encodeURIComponent;
const coordinator = (path: string): string => `api/coordinator/${path}`;
const analysis = (path: string): string => `api/analysis/${path}`;

export const api = {
  status: (): Promise<ConnectionStatus> => requestAPI('status'),
  tagStatus: (tag: string): Promise<TagStatus> => requestAPI(coordinator(`tags/${q(tag)}/status`)),
  sessions: (tag: string): Promise<SessionInfo[]> => requestAPI(coordinator(`sessions?tag=${q(tag)}`)),
  beginSession: (tag: string, title: string): Promise<SessionInfo> =>
    post(coordinator('sessions'), { tag, title: title || null }),
  endSession: (sessionId: string): Promise<SessionInfo> => post(coordinator(`sessions/${q(sessionId)}/end`)),
  start: (tag: string, sessionId?: string, capture: CaptureRequest = {}): Promise<CollectionInfo> =>
    post(coordinator('profiler/start'), { tag, session_id: sessionId ?? null, ...capture }),
  stop: (tag: string, sessionId?: string): Promise<CollectionInfo> =>
    post(coordinator('profiler/stop'), { tag, session_id: sessionId ?? null }),
  files: (sessionId: string): Promise<FileInfo[]> => requestAPI(coordinator(`files?session_id=${q(sessionId)}`)),
  fileDownloadUrl: (fileId: string): string => serverUrl('download', 'file', q(fileId)),
  recipes: (): Promise<RecipeCatalogue> => requestAPI(analysis('recipes')),
  recipe: (name: string): Promise<RecipeDetail> => requestAPI(analysis(`recipes/${q(name)}`)),
  jobs: (tag: string): Promise<JobInfo[]> => requestAPI(analysis(`jobs?tag=${q(tag)}&limit=50`)),
  createJob: (job: JobCreate): Promise<JobInfo> => post(analysis('jobs'), job),
  cancelJob: (jobId: string): Promise<JobInfo> => post(analysis(`jobs/${q(jobId)}/cancel`)),
  openNotebook: (jobId: string): Promise<OpenedNotebook> => post('open-notebook', { job_id: jobId })
};
