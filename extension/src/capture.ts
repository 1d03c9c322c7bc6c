/**
 * The Start form's capture options, read into the body of POST /profiler/start.
 *
 * The same fields as `nsight-lab profiler-start` and `%nsight start`: steps, skip,
 * the overhead limit, a preset, and collector options as NAME=VALUE words. Values are
 * checked here only as far as a form can (numbers are numbers); which collector
 * takes which option is the coordinator's answer, shown as it says it.
 */

export interface CaptureFields {
  steps: string;
  skip: string;
  maxOverhead: string;
  preset: string;
  options: string;
}

export interface CaptureRequest {
  steps?: number;
  skip?: number;
  max_overhead_pct?: number;
  preset?: string;
  options?: Record<string, string>;
}

export type CaptureResult = { ok: true; capture: CaptureRequest } | { ok: false; error: string };

function wholeNumber(text: string, label: string, min: number): number | string {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    return `${label} must be a whole number of at least ${min}, not "${text}"`;
  }
  return value;
}

/** The request fields the form asks for; blank fields are left to the coordinator. */
export function readCapture(fields: CaptureFields): CaptureResult {
  const capture: CaptureRequest = {};
  const steps = fields.steps.trim();
  const skip = fields.skip.trim();
  if (steps) {
    const value = wholeNumber(steps, 'Steps', 1);
    if (typeof value === 'string') {
      return { ok: false, error: value };
    }
    capture.steps = value;
  }
  if (skip) {
    if (!steps) {
      return { ok: false, error: 'Skip only applies with Steps: say how many steps to record' };
    }
    const value = wholeNumber(skip, 'Skip', 0);
    if (typeof value === 'string') {
      return { ok: false, error: value };
    }
    capture.skip = value;
  }
  const overhead = fields.maxOverhead.trim().replace(/%$/, '').trim();
  if (overhead) {
    const value = Number(overhead);
    if (!Number.isFinite(value) || value <= 0) {
      return { ok: false, error: `Max overhead is a percentage above 0, like 5%, not "${fields.maxOverhead}"` };
    }
    capture.max_overhead_pct = value;
  }
  if (fields.preset.trim()) {
    capture.preset = fields.preset.trim();
  }
  const words = fields.options.trim().split(/\s+/).filter(Boolean);
  if (words.length) {
    capture.options = {};
    for (const word of words) {
      const at = word.indexOf('=');
      const name = at > 0 ? word.slice(0, at).replace(/^-+/, '') : '';
      if (!name) {
        return { ok: false, error: `Options are NAME=VALUE words (e.g. record_shapes=true rate=250), not "${word}"` };
      }
      capture.options[name.replace(/-/g, '_')] = word.slice(at + 1);
    }
  }
  return { ok: true, capture };
}
