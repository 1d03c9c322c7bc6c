/**
 * Turning an error answer into one sentence for the user.
 *
 * Our handlers and the gateway answer `{"detail": "..."}`; FastAPI's validation errors
 * carry a list of `{loc, msg}`; Jupyter's own errors carry `message`. The panel shows
 * whichever is there, next to the control the user used.
 */

interface ValidationItem {
  loc?: unknown[];
  msg?: string;
}

export function detailOf(body: unknown, fallback: string): string {
  if (typeof body === 'string') {
    return body.trim() || fallback;
  }
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    const detail = record.detail;
    if (typeof detail === 'string' && detail) {
      return detail;
    }
    if (Array.isArray(detail)) {
      return detail
        .map(item => {
          const v = item as ValidationItem;
          const where = (v.loc ?? []).filter(p => p !== 'body').join('.');
          return where ? `${where}: ${v.msg ?? 'invalid'}` : v.msg ?? 'invalid';
        })
        .join('; ');
    }
    if (typeof record.message === 'string' && record.message) {
      return record.message;
    }
  }
  return fallback;
}

export class NsightAPIError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string
  ) {
    super(status ? `${detail} (HTTP ${status})` : detail);
    this.name = 'NsightAPIError';
  }
}
