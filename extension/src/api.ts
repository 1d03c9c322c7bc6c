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
  TagStatus,
  TraceDescription,
  TraceRequest
} from './types';

export function serverUrl(...parts: string[]): string {
  return URLExt.join(ServerConnection.makeSettings().baseUrl, 'nsight-lab', ...parts);
}

async function send(endPoint: string, init: RequestInit): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'nsight-lab', endPoint);
  try {
    return await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new NsightAPIError(0, `cannot reach the Jupyter server: ${String(error)}`);
  }
}

/** The body as JSON when it is JSON, else the text (kept for the error message). */
function parsed(text: string): unknown {
  if (!text) {
    return text;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function failure(response: Response, body: unknown): NsightAPIError {
  return new NsightAPIError(response.status, detailOf(body, response.statusText || 'request failed'));
}

/** A binary answer (trace tiles); a failure still carries the JSON `detail`. */
export async function requestBytes(endPoint: string): Promise<ArrayBuffer> {
  const response = await send(endPoint, {});
  if (!response.ok) {
    throw failure(response, parsed(await response.text()));
  }
  return response.arrayBuffer();
}

export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const response = await send(endPoint, init);
  const text = await response.text();
  const body = parsed(text);
  if (!response.ok) {
    throw failure(response, body);
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
const query = (params: Record<string, string | number | boolean>): string =>
  Object.entries(params)
    .map(([k, v]) => `${q(k)}=${q(String(v))}`)
    .join('&');
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
  openNotebook: (jobId: string): Promise<OpenedNotebook> => post('open-notebook', { job_id: jobId }),
  allSessions: (): Promise<SessionInfo[]> => requestAPI(coordinator('sessions')),
  session: (sessionId: string): Promise<SessionInfo> => requestAPI(coordinator(`sessions/${q(sessionId)}`)),
  sessionJobs: (sessionId: string): Promise<JobInfo[]> => requestAPI(analysis(`jobs?session_id=${q(sessionId)}&limit=100`)),
  openTrace: (request: TraceRequest): Promise<TraceDescription> => post('traces', request),
  traceTiles: (viewId: string, params: Record<string, number>): Promise<ArrayBuffer> =>
    requestBytes(`traces/${q(viewId)}/tiles?${query(params)}`),
  traceEvent: <T>(viewId: string, params: Record<string, number>): Promise<T> =>
    requestAPI(`traces/${q(viewId)}/event?${query(params)}`),
  traceSummary: <T>(viewId: string, params: Record<string, number>): Promise<T> =>
    requestAPI(`traces/${q(viewId)}/summary?${query(params)}`),
  staticUrl: (name: string): string => serverUrl('static', name)
};
