/** Wire types of the coordinator and analysis APIs (see docs/PROTOCOL.md, nsight_lab/models.py). */

export type AgentState = 'ONLINE' | 'LOST' | 'GONE';
export type SessionState = 'ACTIVE' | 'ENDED';
export type CollectionState = 'RUNNING' | 'STOPPING' | 'COMPLETED' | 'PARTIAL' | 'FAILED';
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface AgentInfo {
  agent_id: string;
  tag: string;
  process_name: string;
  instance: string;
  host: string;
  pid: number;
  collector: string;
  state: AgentState;
}

export interface Participant {
  agent_id: string;
  process_name: string;
  instance: string;
  state: string;
  message: string;
}

export interface CollectionInfo {
  collection_id: string;
  session_id: string;
  index: number;
  state: CollectionState;
  started_at: string;
  stopped_at: string | null;
  participants: Participant[];
}

export interface SessionInfo {
  session_id: string;
  tag: string;
  title: string | null;
  state: SessionState;
  created_at: string;
  ended_at: string | null;
  collections: CollectionInfo[];
}

export interface TagStatus {
  tag: string;
  agents: AgentInfo[];
  active_session: SessionInfo | null;
}

export interface FileInfo {
  file_id: string;
  collection_id: string;
  collection_index: number;
  process_name: string;
  instance: string;
  filename: string;
  kind: string;
  collector: string;
  size: number;
  created_at: string;
  /** The analysis side's one-time conversion (absent from older services). */
  conversion?: FileConversion;
}

export type ConversionState = 'pending' | 'converted' | 'failed' | 'skipped';

export interface FileConversion {
  state: ConversionState;
  error: string | null;
}

export interface ConnectionStatus {
  gateway: string | null;
  tag: string | null;
  auth: string;
  reachable: boolean;
  error: string | null;
  tags: string[];
  workspace: string;
}

export interface RecipeSummary {
  name: string;
  display_name: string;
  description: string;
  min_reports: number;
  max_reports: number | null;
}

export interface RecipeCatalogue {
  recipes: RecipeSummary[];
  unavailable: { folder: string; problem: string }[];
}

export interface JSONSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  items?: JSONSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  'x-common'?: boolean;
  [key: string]: unknown;
}

export interface RecipeDetail extends RecipeSummary {
  schema: JSONSchema;
}

export interface JobInfo {
  job_id: string;
  recipe: string;
  tag: string;
  session_id: string | null;
  collection_id: string | null;
  state: JobState;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: { done: number; total: number; phase: string };
  error: string | null;
  notebook: boolean;
}

export interface JobCreate {
  recipe: string;
  args: Record<string, unknown>;
  tag: string;
  session_id?: string;
  collection_id?: string;
}

export interface OpenedNotebook {
  job_id: string;
  folder: string;
  path: string;
  html_path: string | null;
  html_url: string | null;
}

export interface TraceRow {
  group: string;
  label: string;
  depth: number;
  kind: string;
}

/** What `POST /nsight-lab/traces` answers: everything drawn before the first tiles. */
export interface TraceDescription {
  view_id: string;
  title: string;
  rows: TraceRow[];
  names: string[];
  gaps: number[];
  origin_ns: string;
  span_ns: number;
  event_count: number;
  alignment: string;
  reports: {
    label: string;
    file_id: string | null;
    events: number;
    shift_ns: number;
    rows: [number, number];
    source: string;
  }[];
}

/** Which stored reports to view: some files, or every rank of a collection. */
export type TraceRequest = { file_ids: string[] } | { collection_id: string };
