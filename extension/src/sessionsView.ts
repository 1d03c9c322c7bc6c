/**
 * "Nsight sessions": every session the caller may see, of every tag, in one sortable,
 * filterable table; and a session's page with its collections, files and jobs, with
 * the sidebar's actions (profile, end, view traces, download, open job outputs).
 *
 * The coordinator decides what "may see" means (a gateway with tenants lists only
 * the caller's tags); this view asks for all sessions and shows what comes back.
 */

import { Widget } from '@lumino/widgets';

import { message, NsightHost, openJobOutput } from './actions';
import { api } from './api';
import { h, redraw, showError } from './dom';
import { elapsed, formatBytes, formatTime } from './format';
import { canOpenNotebook, collectionTone, jobTone, progressText } from './jobState';
import {
  canViewTrace,
  DEFAULT_SORT,
  fileLabel,
  filterSessions,
  knownTags,
  nextSort,
  SessionFilter,
  SortKey,
  SortOrder,
  sortSessions,
  traceState
} from './sessionsTable';
import type { FileInfo, JobInfo, SessionInfo, SessionState } from './types';

const POLL_MS = 3000;

const COLUMNS: { key: SortKey; label: string }[] = [
  { key: 'title', label: 'Title' },
  { key: 'tag', label: 'Tag' },
  { key: 'state', label: 'State' },
  { key: 'created', label: 'Began' },
  { key: 'ended', label: 'Ended' },
  { key: 'collections', label: 'Collections' }
];

export class SessionsView extends Widget {
  private sessions: SessionInfo[] = [];
  private tags: string[] = [];
  private order: SortOrder = DEFAULT_SORT;
  private filter: SessionFilter = { text: '', tag: '', state: '' };
  private selected: string | null = null;
  private files: FileInfo[] = [];
  private jobs: JobInfo[] = [];
  private timer = 0;
  private readonly listPage = h('div', { className: 'jp-NsightLab-page' });
  private readonly sessionPage = h('div', { className: 'jp-NsightLab-page', hidden: true });
  private readonly table = h('div', { className: 'jp-NsightLab-sessions-table' });
  private readonly detail = h('div', { className: 'jp-NsightLab-session-page' });
  private readonly error = h('p', { className: 'jp-NsightLab-error', role: 'alert', hidden: true });
  private readonly actionError = h('p', { className: 'jp-NsightLab-error', role: 'alert', hidden: true });
  private readonly tagSelect: HTMLSelectElement;
  private readonly stateSelect: HTMLSelectElement;
  private readonly beginTag: HTMLSelectElement;
  private readonly beginTitle: HTMLInputElement;
  private readonly beginError = h('p', { className: 'jp-NsightLab-error', role: 'alert', hidden: true });

  constructor(private readonly host: NsightHost) {
    super();
    this.id = 'nsight-lab-sessions';
    this.addClass('jp-NsightLab');
    this.addClass('jp-NsightLab-main');
    this.title.label = 'Nsight sessions';
    this.title.caption = 'Every profiling session you may see, of every tag';
    this.title.closable = true;

    const filterInput = h('input', { id: 'nsight-sessions-filter', type: 'search', placeholder: 'title, tag or id', autocomplete: 'off' });
    filterInput.addEventListener('input', () => {
      this.filter = { ...this.filter, text: filterInput.value };
      this.renderTable();
    });
    this.tagSelect = h('select', { id: 'nsight-sessions-tag', className: 'jp-mod-styled' });
    this.tagSelect.addEventListener('change', () => {
      this.filter = { ...this.filter, tag: this.tagSelect.value };
      this.renderTable();
    });
    this.stateSelect = h(
      'select',
      { id: 'nsight-sessions-state', className: 'jp-mod-styled' },
      h('option', { value: '' }, 'any state'),
      h('option', { value: 'ACTIVE' }, 'ACTIVE'),
      h('option', { value: 'ENDED' }, 'ENDED')
    );
    this.stateSelect.addEventListener('change', () => {
      this.filter = { ...this.filter, state: this.stateSelect.value as '' | SessionState };
      this.renderTable();
    });
    this.beginTag = h('select', { id: 'nsight-sessions-begin-tag', className: 'jp-mod-styled' });
    this.beginTitle = h('input', { id: 'nsight-sessions-begin-title', type: 'text', placeholder: 'e.g. baseline', maxlength: 200 });
    const begin = async (): Promise<void> => {
      showError(this.beginError, null);
      try {
        const session = await api.beginSession(this.beginTag.value || 'default', this.beginTitle.value.trim());
        this.beginTitle.value = '';
        this.showSession(session.session_id);
      } catch (error) {
        showError(this.beginError, message(error));
      }
    };
    this.listPage.append(
      h('h2', { className: 'jp-NsightLab-title' }, 'Sessions'),
      h(
        'form',
        {
          className: 'jp-NsightLab-toolbar',
          'aria-label': 'Begin a session',
          onsubmit: (event: Event) => {
            event.preventDefault();
            void begin();
          }
        },
        h('label', { for: 'nsight-sessions-begin-tag' }, 'Begin a session on tag'),
        this.beginTag,
        h('label', { for: 'nsight-sessions-begin-title' }, 'titled'),
        this.beginTitle,
        h('button', { type: 'submit', className: 'jp-mod-styled jp-NsightLab-button', 'data-action': 'begin' }, 'Begin session')
      ),
      this.beginError,
      h(
        'div',
        { className: 'jp-NsightLab-toolbar', role: 'search' },
        h('label', { for: 'nsight-sessions-filter' }, 'Filter'),
        filterInput,
        h('label', { for: 'nsight-sessions-tag' }, 'Tag'),
        this.tagSelect,
        h('label', { for: 'nsight-sessions-state' }, 'State'),
        this.stateSelect,
        h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', onclick: () => void this.refresh() }, 'Refresh')
      ),
      this.error,
      this.table
    );
    this.sessionPage.append(this.detail);
    this.node.append(this.listPage, this.sessionPage);
  }

  protected onAfterAttach(): void {
    this.loop();
  }

  protected onBeforeDetach(): void {
    window.clearTimeout(this.timer);
  }

  private loop(): void {
    const tick = async (): Promise<void> => {
      if (this.isDisposed || !this.isAttached) {
        return;
      }
      if (this.isVisible) {
        await this.refresh();
      }
      this.timer = window.setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
  }

  /** Show one session's page (or the list again with `null`). */
  showSession(sessionId: string | null): void {
    this.selected = sessionId;
    this.listPage.hidden = sessionId !== null;
    this.sessionPage.hidden = sessionId === null;
    this.detail.dataset.drawn = '';
    void this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const [sessions, status] = await Promise.all([api.allSessions(), api.status()]);
      this.sessions = sessions;
      this.tags = status.tags;
      showError(this.error, status.reachable ? null : status.error);
      if (this.selected) {
        [this.files, this.jobs] = await Promise.all([api.files(this.selected), api.sessionJobs(this.selected)]);
      }
    } catch (error) {
      showError(this.error, message(error));
    }
    this.renderFilters();
    this.renderTable();
    this.renderSession();
  }

  private renderFilters(): void {
    const current = this.tagSelect.value;
    const tags = knownTags(this.tags, this.sessions);
    redraw(this.tagSelect, tags, () => [h('option', { value: '' }, 'every tag'), ...tags.map(t => h('option', { value: t }, t))]);
    this.tagSelect.value = current;
    const chosen = this.beginTag.value;
    redraw(this.beginTag, tags, () => (tags.length ? tags : ['default']).map(t => h('option', { value: t }, t)));
    this.beginTag.value = chosen || (tags.includes('default') ? 'default' : tags[0] ?? 'default');
  }

  private renderTable(): void {
    const shown = sortSessions(filterSessions(this.sessions, this.filter), this.order);
    redraw(this.table, { shown, order: this.order }, () => {
      if (!this.sessions.length) {
        return [h('p', { className: 'jp-NsightLab-muted' }, 'No sessions yet: begin one from the Nsight sidebar or with `nsight-lab session-begin`.')];
      }
      const head = h(
        'tr',
        {},
        ...COLUMNS.map(c => {
          const sorted = this.order.key === c.key;
          return h(
            'th',
            { scope: 'col', 'aria-sort': sorted ? (this.order.ascending ? 'ascending' : 'descending') : 'none' },
            h(
              'button',
              {
                type: 'button',
                className: 'jp-NsightLab-sort',
                'data-focus': `sort-${c.key}`,
                'data-sort': c.key,
                onclick: () => {
                  this.order = nextSort(this.order, c.key);
                  this.renderTable();
                }
              },
              c.label,
              sorted ? (this.order.ascending ? ' ▲' : ' ▼') : ''
            )
          );
        })
      );
      const body = shown.map(s =>
        h(
          'tr',
          { 'data-session': s.session_id },
          h(
            'td',
            {},
            h('button', { type: 'button', className: 'jp-NsightLab-link', 'data-focus': `open-${s.session_id}`, onclick: () => this.showSession(s.session_id) }, s.title || '(untitled)')
          ),
          h('td', {}, s.tag),
          h('td', {}, h('span', { className: `jp-NsightLab-badge jp-mod-${s.state === 'ACTIVE' ? 'busy' : 'idle'}` }, s.state)),
          h('td', {}, formatTime(s.created_at)),
          h('td', {}, s.ended_at ? `${formatTime(s.ended_at)} (${elapsed(s.created_at, s.ended_at)})` : '—'),
          h('td', { className: 'jp-NsightLab-num' }, String(s.collections.length))
        )
      );
      return [
        h(
          'table',
          { className: 'jp-NsightLab-grid', 'aria-label': 'Sessions' },
          h('caption', { className: 'jp-NsightLab-sr' }, `${shown.length} of ${this.sessions.length} sessions`),
          h('thead', {}, head),
          h('tbody', {}, ...body)
        ),
        h('p', { className: 'jp-NsightLab-muted' }, `${shown.length} of ${this.sessions.length} sessions shown`)
      ];
    });
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    showError(this.actionError, null);
    try {
      await action();
    } catch (error) {
      showError(this.actionError, message(error));
    }
    await this.refresh();
  }

  private renderSession(): void {
    const session = this.sessions.find(s => s.session_id === this.selected) ?? null;
    redraw(this.detail, { session, files: this.files, jobs: this.jobs }, () => {
      const back = h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', 'data-focus': 'back', onclick: () => this.showSession(null) }, '← All sessions');
      if (!session) {
        return [back, h('p', { className: 'jp-NsightLab-muted' }, this.selected ? 'Loading the session…' : '')];
      }
      const active = session.state === 'ACTIVE';
      const running = session.collections.some(c => c.state === 'RUNNING');
      const button = (label: string, name: string, run: () => Promise<unknown>, enabled = true): HTMLButtonElement =>
        h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', 'data-action': name, 'data-focus': `act-${name}`, disabled: !enabled, onclick: () => void this.act(run) }, label);
      return [
        back,
        h('h2', { className: 'jp-NsightLab-title' }, session.title || '(untitled)'),
        h(
          'p',
          {},
          h('span', { className: `jp-NsightLab-badge jp-mod-${active ? 'busy' : 'idle'}` }, session.state),
          ` tag ${session.tag} · began ${formatTime(session.created_at)}`,
          session.ended_at ? ` · ran ${elapsed(session.created_at, session.ended_at)}` : '',
          ' · ',
          h('code', {}, session.session_id)
        ),
        h(
          'div',
          { className: 'jp-NsightLab-buttons', role: 'group', 'aria-label': 'Session actions' },
          button('Start', 'start', () => api.start(session.tag, session.session_id), active && !running),
          button('Stop', 'stop', () => api.stop(session.tag, session.session_id), running),
          button('End session', 'end', () => api.endSession(session.session_id), active),
          button('Run a recipe…', 'analyse', () => this.host.analyse(session), session.collections.length > 0)
        ),
        this.actionError,
        h('h3', {}, 'Collections'),
        ...this.collections(session),
        h('h3', {}, 'Jobs'),
        this.jobsTable()
      ];
    });
  }

  private collections(session: SessionInfo): HTMLElement[] {
    if (!session.collections.length) {
      return [h('p', { className: 'jp-NsightLab-muted' }, 'No collections yet: press Start, then Stop.')];
    }
    return [...session.collections]
      .sort((a, b) => a.index - b.index)
      .map(c => {
        const files = this.files.filter(f => f.collection_id === c.collection_id);
        const label = `${session.title || session.session_id} #${c.index}`;
        return h(
          'section',
          { className: 'jp-NsightLab-collection', 'data-collection': c.index, 'aria-label': `Collection ${c.index}` },
          h(
            'p',
            {},
            h('span', { className: 'jp-NsightLab-strong' }, `#${c.index}`),
            ' ',
            h('span', { className: `jp-NsightLab-badge jp-mod-${collectionTone(c.state)}` }, c.state),
            ` ${formatTime(c.started_at)} · ${elapsed(c.started_at, c.stopped_at)} · ${files.length} file${files.length === 1 ? '' : 's'} `,
            files.some(canViewTrace)
              ? h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', 'data-action': 'view-collection', 'data-focus': `view-c-${c.collection_id}`, onclick: () => this.host.viewTrace({ collection_id: c.collection_id }, label) }, 'View trace')
              : null
          ),
          files.length ? this.filesTable(files) : h('p', { className: 'jp-NsightLab-muted' }, c.state === 'RUNNING' ? 'Recording…' : 'No files yet.')
        );
      });
  }

  private filesTable(files: FileInfo[]): HTMLElement {
    return h(
      'table',
      { className: 'jp-NsightLab-grid' },
      h('thead', {}, h('tr', {}, ...['Process', 'Instance', 'Collector', 'Kind', 'Size', 'Trace', ''].map(c => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        ...files.map(f =>
          h(
            'tr',
            { 'data-file': f.file_id, title: f.filename },
            h('td', {}, f.process_name),
            h('td', {}, f.instance),
            h('td', {}, f.collector),
            h('td', {}, f.kind),
            h('td', { className: 'jp-NsightLab-num' }, formatBytes(f.size)),
            h(
              'td',
              { className: traceState(f).problem ? 'jp-NsightLab-error' : '', title: traceState(f).problem ?? '' },
              traceState(f).problem ? `${traceState(f).text}: ${traceState(f).problem}` : traceState(f).text
            ),
            h(
              'td',
              { className: 'jp-NsightLab-row-actions' },
              h('a', { href: api.fileDownloadUrl(f.file_id), download: f.filename, 'data-focus': `dl-${f.file_id}`, 'aria-label': `Download ${f.filename}` }, 'Download'),
              canViewTrace(f)
                ? h('button', { type: 'button', className: 'jp-NsightLab-link', 'data-action': 'view-file', 'data-focus': `view-f-${f.file_id}`, onclick: () => this.host.viewTrace({ file_ids: [f.file_id] }, fileLabel(f)) }, 'View trace')
                : null
            )
          )
        )
      )
    );
  }

  private jobsTable(): HTMLElement {
    if (!this.jobs.length) {
      return h('p', { className: 'jp-NsightLab-muted' }, 'No analysis jobs for this session: run a recipe from the sidebar\u2019s Analysis tab.');
    }
    return h(
      'table',
      { className: 'jp-NsightLab-grid', 'aria-label': 'Jobs of the session' },
      h('thead', {}, h('tr', {}, ...['Recipe', 'State', 'Submitted', 'Progress', ''].map(c => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        ...this.jobs.map(j => {
          const slot = h('span', { className: 'jp-NsightLab-error', role: 'alert', hidden: true });
          const open = (what: 'notebook' | 'html'): void => {
            showError(slot, null);
            openJobOutput(this.host, j, what).catch(error => showError(slot, message(error)));
          };
          return h(
            'tr',
            { 'data-job': j.job_id, 'data-state': j.state },
            h('td', {}, j.recipe),
            h('td', {}, h('span', { className: `jp-NsightLab-badge jp-mod-${jobTone(j.state)}` }, j.state)),
            h('td', {}, formatTime(j.created_at)),
            h('td', {}, progressText(j)),
            h(
              'td',
              { className: 'jp-NsightLab-row-actions' },
              canOpenNotebook(j)
                ? [
                    h('button', { type: 'button', className: 'jp-NsightLab-link', 'data-focus': `nb-${j.job_id}`, onclick: () => open('notebook') }, 'Notebook'),
                    h('button', { type: 'button', className: 'jp-NsightLab-link', 'data-focus': `html-${j.job_id}`, onclick: () => open('html') }, 'HTML')
                  ]
                : null,
              slot
            )
          );
        })
      )
    );
  }
}
