/**
 * "View trace": stored reports as a Timeline in a main-area tab.
 *
 * The server extension converts and lays out each report once (then keeps it in its
 * cache), and sends only the blocks the current view draws; the drawing code is
 * the notebook Timeline's, loaded from the server so there is one copy of it.
 */

import { Widget } from '@lumino/widgets';

import { api } from './api';
import { h } from './dom';
import { messageOf, TraceModel, TraceTransport, traceWidgetId } from './traceModel';

export { traceWidgetId };
import type { TraceDescription, TraceRequest } from './types';

interface TimelineModule {
  default: { render(props: { model: TraceModel; el: HTMLElement }): (() => void) | void };
}

let timelineModule: Promise<TimelineModule> | null = null;

/** The Timeline front end and its stylesheet, fetched once per page. */
function loadTimeline(): Promise<TimelineModule> {
  if (!timelineModule) {
    const css = h('link', { rel: 'stylesheet', href: api.staticUrl('widgets.css') });
    document.head.append(css);
    timelineModule = import(/* webpackIgnore: true */ api.staticUrl('timeline.js')) as Promise<TimelineModule>;
    timelineModule.catch(() => (timelineModule = null));
  }
  return timelineModule;
}

export function httpTransport(request: TraceRequest, description: { view_id: string }): TraceTransport {
  let viewId = description.view_id;
  return {
    tiles: params => api.traceTiles(viewId, params),
    event: params => api.traceEvent(viewId, params),
    summary: params => api.traceSummary(viewId, params),
    reopen: async () => {
      const again = await api.openTrace(request);
      viewId = again.view_id;
      return again;
    }
  };
}

export class TraceViewer extends Widget {
  private readonly status = h('p', { className: 'jp-NsightLab-trace-status', role: 'status' });
  private readonly canvasHost = h('div', { className: 'jp-NsightLab-trace-host' });
  private model: TraceModel | null = null;
  private cleanup: (() => void) | null = null;
  private opened = false;

  constructor(
    readonly request: TraceRequest,
    label: string
  ) {
    super();
    this.id = traceWidgetId(request);
    this.addClass('jp-NsightLab-trace');
    this.title.label = label;
    this.title.caption = `Timeline: ${label}`;
    this.title.closable = true;
    this.node.append(this.status, this.canvasHost);
  }

  protected onAfterAttach(): void {
    if (!this.opened) {
      this.opened = true;
      void this.open();
    }
  }

  protected onResize(): void {
    this.fitHeight();
  }

  /** The timeline scrolls inside the tab; its details pane stays below it. */
  private fitHeight(): void {
    if (this.model) {
      const available = this.node.clientHeight - this.status.offsetHeight - 320;
      this.model.set('height', Math.max(200, available));
    }
  }

  async open(): Promise<void> {
    this.status.replaceChildren('Opening the trace… The first time, the server converts and lays out each report; after that it opens at once.');
    this.status.dataset.state = 'opening';
    let description: TraceDescription;
    try {
      const [opened] = await Promise.all([api.openTrace(this.request), loadTimeline()]);
      description = opened;
    } catch (error) {
      this.status.dataset.state = 'error';
      this.status.replaceChildren(
        h('span', { className: 'jp-NsightLab-error', role: 'alert' }, `Cannot open the trace: ${messageOf(error)}`),
        ' ',
        h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', onclick: () => void this.open() }, 'Retry')
      );
      return;
    }
    const reports = description.reports.length;
    this.title.label = description.title || this.title.label;
    this.status.dataset.state = 'ready';
    this.status.replaceChildren(
      `${reports} report${reports === 1 ? '' : 's'} · ${description.event_count.toLocaleString()} events`,
      reports > 1 ? ` · aligned by ${description.alignment}` : '',
      ' · wheel zooms, drag pans, click an event for its details, shift-drag a range for its kernel summary'
    );
    this.model = new TraceModel(description, httpTransport(this.request, description));
    this.fitHeight();
    const module = await loadTimeline();
    this.cleanup?.();
    this.canvasHost.replaceChildren();
    this.cleanup = module.default.render({ model: this.model, el: this.canvasHost }) || null;
  }

  dispose(): void {
    this.cleanup?.();
    this.cleanup = null;
    super.dispose();
  }
}
