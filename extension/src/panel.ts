/**
 * The "Nsight" sidebar: connection and agents, sessions with their collections and
 * files, profiling controls, and the Analysis tab (recipe forms and jobs).
 *
 * Lists are redrawn only when their data changed, and the focused control is found
 * again after a redraw (by its `data-focus` key), so polling never steals the
 * keyboard from the user.
 */

import { Widget } from '@lumino/widgets';

import { message, NsightHost, openJobOutput } from './actions';
import { api } from './api';
import { CaptureFields, readCapture } from './capture';
import { h, redraw, showError } from './dom';
import { elapsed, formatBytes, formatTime } from './format';
import { canOpenNotebook, collectionTone, jobTone, nextPollDelay, progressFraction, progressText } from './jobState';
import { collectArgs, fieldsFromSchema, FormField, initialValue, RawValue } from './schemaForm';
import { canViewTrace, fileLabel, knownTags, traceState } from './sessionsTable';
import type { ConnectionStatus, FileInfo, JobInfo, RecipeSummary, SessionInfo, TagStatus } from './types';

const PROFILE_POLL_MS = 2000;
/** The tag choice that reveals a field for a tag no agent or session has used yet. */
const NEW_TAG = '\u0000new';

export type PanelHost = NsightHost;

let uid = 0;
function nextId(stem: string): string {
  uid += 1;
  return `nsight-${stem}-${uid}`;
}

export class NsightPanel extends Widget {
  private status: ConnectionStatus | null = null;
  private tagStatus: TagStatus | null = null;
  private sessions: SessionInfo[] = [];
  private files: FileInfo[] = [];
  private jobs: JobInfo[] = [];
  private selectedSession: string | null = null;
  private recipeFields: FormField[] = [];
  private jobErrors = new Map<string, string>();
  private timers: number[] = [];

  private readonly tabs: Record<'profile' | 'analysis', { tab: HTMLButtonElement; page: HTMLElement }>;
  private readonly connectionBox = h('div', { className: 'jp-NsightLab-connection', 'aria-live': 'polite' });
  private readonly agentsBox = h('div', { className: 'jp-NsightLab-agents' });
  private readonly sessionsBox = h('div', { className: 'jp-NsightLab-sessions' });
  private readonly detailBox = h('div', { className: 'jp-NsightLab-detail' });
  private readonly tagSelect: HTMLSelectElement;
  private readonly newTagInput: HTMLInputElement;
  private readonly titleInput: HTMLInputElement;
  private chosenTag: string | null = null;
  private readonly controlError = h('p', { className: 'jp-NsightLab-error', role: 'alert', hidden: true });
  private readonly captureInputs: Record<keyof CaptureFields, HTMLInputElement>;
  private readonly recipeSelect: HTMLSelectElement;
  private readonly recipeDescription = h('p', { className: 'jp-NsightLab-muted' });
  private readonly recipeForm = h('div', { className: 'jp-NsightLab-fields' });
  private readonly scopeSelect: HTMLSelectElement;
  private readonly runError = h('p', { className: 'jp-NsightLab-error', role: 'alert', hidden: true });
  private readonly jobsBox = h('div', { className: 'jp-NsightLab-jobs' });

  constructor(private readonly host: PanelHost) {
    super();
    this.id = 'nsight-lab-panel';
    this.addClass('jp-NsightLab');
    this.title.caption = 'Nsight: profiling sessions and analysis';

    const tagId = nextId('tag');
    const newTagId = nextId('new-tag');
    const titleId = nextId('title');
    this.tagSelect = h('select', { id: tagId, className: 'jp-mod-styled' }, h('option', { value: 'default' }, 'default'));
    this.newTagInput = h('input', { id: newTagId, type: 'text', placeholder: 'a new tag', autocomplete: 'off', maxlength: 128 });
    this.titleInput = h('input', { id: titleId, type: 'text', placeholder: 'e.g. baseline', maxlength: 200 });
    const newTagRow = h('div', { className: 'jp-NsightLab-row', hidden: true }, h('label', { for: newTagId }, 'New tag'), this.newTagInput);
    this.tagSelect.addEventListener('change', () => {
      const isNew = this.tagSelect.value === NEW_TAG;
      newTagRow.hidden = !isNew;
      if (isNew) {
        this.newTagInput.focus();
        return;
      }
      this.chosenTag = this.tagSelect.value;
      void this.refresh();
    });
    this.newTagInput.addEventListener('change', () => {
      const tag = this.newTagInput.value.trim();
      if (tag) {
        this.chosenTag = tag;
        void this.refresh();
      }
    });

    const button = (label: string, action: () => Promise<void>, name: string): HTMLButtonElement =>
      h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', 'data-action': name, onclick: () => void action() }, label);

    const captureField = (name: keyof CaptureFields, label: string, placeholder: string): [HTMLInputElement, HTMLElement] => {
      const id = nextId(`capture-${name}`);
      const input = h('input', { id, type: 'text', placeholder, autocomplete: 'off', 'data-capture': name });
      return [input, h('div', { className: 'jp-NsightLab-row' }, h('label', { for: id }, label), input)];
    };
    const fields = {
      steps: captureField('steps', 'Steps', 'e.g. 3 (same steps on every rank)'),
      skip: captureField('skip', 'Skip steps', 'e.g. 10'),
      maxOverhead: captureField('maxOverhead', 'Max overhead', 'e.g. 10%'),
      preset: captureField('preset', 'Preset', 'tag default when empty'),
      options: captureField('options', 'Collector options', 'e.g. record_shapes=true rate=250')
    };
    this.captureInputs = {
      steps: fields.steps[0],
      skip: fields.skip[0],
      maxOverhead: fields.maxOverhead[0],
      preset: fields.preset[0],
      options: fields.options[0]
    };
    const captureBox = h(
      'details',
      { className: 'jp-NsightLab-capture' },
      h('summary', {}, 'Capture options'),
      ...Object.values(fields).map(([, row]) => row)
    );

    const controls = h(
      'section',
      { className: 'jp-NsightLab-section', 'aria-label': 'Profiling controls' },
      h('h3', {}, 'Profile'),
      h('div', { className: 'jp-NsightLab-row' }, h('label', { for: tagId }, 'Tag'), this.tagSelect),
      newTagRow,
      h('div', { className: 'jp-NsightLab-row' }, h('label', { for: titleId }, 'Session title'), this.titleInput),
      captureBox,
      h(
        'div',
        { className: 'jp-NsightLab-buttons' },
        button('Begin session', () => this.beginSession(), 'begin'),
        button('Start', () => this.startProfiling(), 'start'),
        button('Stop', () => this.stopProfiling(), 'stop'),
        button('End session', () => this.endSession(), 'end')
      ),
      this.controlError
    );

    const profile = h(
      'div',
      { className: 'jp-NsightLab-page' },
      this.connectionBox,
      controls,
      h('section', { className: 'jp-NsightLab-section', 'aria-label': 'Agents' }, h('h3', {}, 'Agents'), this.agentsBox),
      h(
        'section',
        { className: 'jp-NsightLab-section', 'aria-label': 'Sessions' },
        h(
          'h3',
          { className: 'jp-NsightLab-heading-row' },
          'Sessions',
          h('button', { type: 'button', className: 'jp-NsightLab-link', 'data-action': 'all-sessions', onclick: () => this.host.openSessions() }, 'All sessions ↗')
        ),
        this.sessionsBox,
        this.detailBox
      )
    );

    const recipeId = nextId('recipe');
    const scopeId = nextId('scope');
    this.recipeSelect = h('select', { id: recipeId, className: 'jp-mod-styled' });
    this.recipeSelect.addEventListener('change', () => void this.loadRecipe(this.recipeSelect.value));
    this.scopeSelect = h('select', { id: scopeId, className: 'jp-mod-styled' });
    const analysis = h(
      'div',
      { className: 'jp-NsightLab-page' },
      h(
        'section',
        { className: 'jp-NsightLab-section', 'aria-label': 'Run a recipe' },
        h('h3', {}, 'Run a recipe'),
        h('div', { className: 'jp-NsightLab-row' }, h('label', { for: recipeId }, 'Recipe'), this.recipeSelect),
        this.recipeDescription,
        h('div', { className: 'jp-NsightLab-row' }, h('label', { for: scopeId }, 'Reports of'), this.scopeSelect),
        this.recipeForm,
        h('div', { className: 'jp-NsightLab-buttons' }, button('Run recipe', () => this.runRecipe(), 'run')),
        this.runError
      ),
      h('section', { className: 'jp-NsightLab-section', 'aria-label': 'Jobs' }, h('h3', {}, 'Jobs'), this.jobsBox)
    );

    const tab = (label: string, key: 'profile' | 'analysis'): HTMLButtonElement =>
      h('button', { type: 'button', role: 'tab', className: 'jp-NsightLab-tab', id: `nsight-lab-tab-${key}`, onclick: () => this.showTab(key) }, label);
    this.tabs = {
      profile: { tab: tab('Profile', 'profile'), page: profile },
      analysis: { tab: tab('Analysis', 'analysis'), page: analysis }
    };
    for (const [key, { page }] of Object.entries(this.tabs)) {
      page.setAttribute('role', 'tabpanel');
      page.setAttribute('aria-labelledby', `nsight-lab-tab-${key}`);
    }
    this.node.append(
      h('h2', { className: 'jp-NsightLab-title' }, 'Nsight'),
      h('div', { role: 'tablist', className: 'jp-NsightLab-tabs', 'aria-label': 'Nsight views' }, this.tabs.profile.tab, this.tabs.analysis.tab),
      profile,
      analysis
    );
    this.showTab('profile');
    this.profileLoop();
    this.jobsLoop();
    void this.loadRecipes();
  }

  get tag(): string {
    if (this.tagSelect.value === NEW_TAG) {
      return this.newTagInput.value.trim() || this.chosenTag || 'default';
    }
    return this.chosenTag || this.status?.tag || 'default';
  }

  showTab(key: 'profile' | 'analysis'): void {
    for (const [name, { tab, page }] of Object.entries(this.tabs)) {
      const selected = name === key;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      page.hidden = !selected;
    }
  }

  dispose(): void {
    this.timers.forEach(t => window.clearTimeout(t));
    super.dispose();
  }

  // --- data -------------------------------------------------------------------------

  async refresh(): Promise<void> {
    try {
      this.status = await api.status();
    } catch (error) {
      this.status = { gateway: null, tag: null, auth: 'none', reachable: false, error: message(error), tags: [], workspace: '' };
    }
    if (this.status.reachable) {
      try {
        const tag = this.tag;
        [this.tagStatus, this.sessions] = await Promise.all([api.tagStatus(tag), api.sessions(tag)]);
        if (!this.sessions.some(s => s.session_id === this.selectedSession)) {
          this.selectedSession = this.sessions[0]?.session_id ?? null;
        }
        this.files = this.selectedSession ? await api.files(this.selectedSession) : [];
      } catch (error) {
        this.status = { ...this.status, reachable: false, error: message(error) };
      }
    }
    this.renderTags();
    this.render();
  }

  /** The known tags (the coordinator's, plus the one in use) and a way to add one. */
  private renderTags(): void {
    const tags = knownTags(this.status?.tags ?? [], this.sessions, this.tag);
    const picking = this.tagSelect.value === NEW_TAG;
    redraw(this.tagSelect, tags, () => [...tags.map(t => h('option', { value: t }, t)), h('option', { value: NEW_TAG }, 'New tag…')]);
    this.tagSelect.value = picking ? NEW_TAG : this.tag;
  }

  /** Scope the Analysis tab's form to ``session`` (switching to its tag) and show it. */
  async analyse(session: SessionInfo): Promise<void> {
    this.chosenTag = session.tag;
    this.tagSelect.value = session.tag;
    await this.refresh();
    this.showTab('analysis');
    this.scopeSelect.value = session.session_id;
    await this.refreshJobs();
  }

  async refreshJobs(): Promise<void> {
    if (!this.status?.reachable) {
      return;
    }
    try {
      this.jobs = await api.jobs(this.tag);
    } catch (error) {
      showError(this.runError, message(error));
    }
    this.renderJobs();
  }

  private profileLoop(): void {
    const tick = async (): Promise<void> => {
      if (this.isDisposed) {
        return;
      }
      if (this.isVisible || !this.status) {
        await this.refresh();
      }
      this.timers.push(window.setTimeout(() => void tick(), PROFILE_POLL_MS));
    };
    void tick();
  }

  private jobsLoop(): void {
    const tick = async (): Promise<void> => {
      if (this.isDisposed) {
        return;
      }
      if (this.isVisible) {
        await this.refreshJobs();
      }
      this.timers.push(window.setTimeout(() => void tick(), nextPollDelay(this.jobs)));
    };
    void tick();
  }

  // --- actions ----------------------------------------------------------------------

  private async act(slot: HTMLElement, action: () => Promise<unknown>): Promise<boolean> {
    showError(slot, null);
    try {
      await action();
      return true;
    } catch (error) {
      showError(slot, message(error));
      return false;
    } finally {
      await this.refresh();
    }
  }

  async beginSession(): Promise<void> {
    const title = this.titleInput.value.trim();
    await this.act(this.controlError, async () => {
      const session = await api.beginSession(this.tag, title);
      this.selectedSession = session.session_id;
    });
  }

  async startProfiling(): Promise<void> {
    const read = readCapture({
      steps: this.captureInputs.steps.value,
      skip: this.captureInputs.skip.value,
      maxOverhead: this.captureInputs.maxOverhead.value,
      preset: this.captureInputs.preset.value,
      options: this.captureInputs.options.value
    });
    if (!read.ok) {
      showError(this.controlError, read.error);
      return;
    }
    await this.act(this.controlError, () => api.start(this.tag, undefined, read.capture));
  }

  async stopProfiling(): Promise<void> {
    await this.act(this.controlError, () => api.stop(this.tag));
  }

  async endSession(): Promise<void> {
    await this.act(this.controlError, async () => {
      const active = this.tagStatus?.active_session ?? this.sessions.find(s => s.state === 'ACTIVE');
      if (!active) {
        throw new Error(`tag "${this.tag}" has no active session to end`);
      }
      await api.endSession(active.session_id);
    });
  }

  private async loadRecipes(): Promise<void> {
    try {
      const catalogue = await api.recipes();
      const options = catalogue.recipes.map((r: RecipeSummary) => h('option', { value: r.name }, `${r.display_name} (${r.name})`));
      this.recipeSelect.replaceChildren(...options);
      if (catalogue.recipes.length) {
        await this.loadRecipe(catalogue.recipes[0].name);
      }
    } catch (error) {
      showError(this.runError, `cannot list recipes: ${message(error)}`);
    }
  }

  async loadRecipe(name: string): Promise<void> {
    this.recipeSelect.value = name;
    try {
      const detail = await api.recipe(name);
      this.recipeDescription.textContent = detail.description;
      this.recipeFields = fieldsFromSchema(detail.schema);
      this.recipeForm.replaceChildren(...this.recipeFields.map(f => this.fieldControl(f)));
      showError(this.runError, null);
    } catch (error) {
      showError(this.runError, `cannot load recipe ${name}: ${message(error)}`);
    }
  }

  private fieldControl(field: FormField): HTMLElement {
    const id = nextId(`arg-${field.name}`);
    const helpId = `${id}-help`;
    const errorId = `${id}-error`;
    const initial = initialValue(field);
    let control: HTMLInputElement | HTMLSelectElement;
    if (field.kind === 'boolean') {
      control = h('input', { id, type: 'checkbox', name: field.name, 'aria-describedby': helpId });
      control.checked = initial === true;
    } else if (field.kind === 'enum') {
      control = h('select', { id, name: field.name, className: 'jp-mod-styled', 'aria-describedby': helpId }, ...(field.options ?? []).map(o => h('option', { value: o }, o)));
      control.value = String(initial);
    } else {
      const numeric = field.kind === 'integer' || field.kind === 'number';
      control = h('input', {
        id,
        name: field.name,
        type: numeric ? 'number' : 'text',
        step: field.kind === 'integer' ? 1 : numeric ? 'any' : undefined,
        min: field.minimum,
        max: field.maximum,
        required: field.required,
        'aria-describedby': `${helpId} ${errorId}`,
        placeholder: field.kind === 'string-list' ? 'comma-separated' : undefined
      });
      control.value = String(initial);
    }
    control.dataset.field = field.name;
    return h(
      'div',
      { className: `jp-NsightLab-field${field.common ? ' jp-NsightLab-common' : ''}` },
      h('label', { for: id }, field.label + (field.required ? ' *' : '')),
      control,
      field.description ? h('small', { id: helpId, className: 'jp-NsightLab-muted' }, field.description) : null,
      h('small', { id: errorId, className: 'jp-NsightLab-error', role: 'alert', hidden: true, 'data-error-for': field.name })
    );
  }

  private formValues(): Record<string, RawValue> {
    const raw: Record<string, RawValue> = {};
    this.recipeForm.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[data-field]').forEach(el => {
      raw[el.dataset.field as string] = el instanceof HTMLInputElement && el.type === 'checkbox' ? el.checked : el.value;
    });
    return raw;
  }

  async runRecipe(): Promise<void> {
    showError(this.runError, null);
    const { args, errors } = collectArgs(this.recipeFields, this.formValues());
    this.recipeForm.querySelectorAll<HTMLElement>('[data-error-for]').forEach(slot => showError(slot, errors[slot.dataset.errorFor as string] ?? null));
    if (Object.keys(errors).length) {
      showError(this.runError, 'Fix the fields marked above, then run again.');
      return;
    }
    try {
      const job = await api.createJob({ recipe: this.recipeSelect.value, args, tag: this.tag, session_id: this.scopeSelect.value || undefined });
      this.jobs = [job, ...this.jobs.filter(j => j.job_id !== job.job_id)];
      this.renderJobs();
    } catch (error) {
      showError(this.runError, message(error));
    }
  }

  private async openJob(job: JobInfo, what: 'notebook' | 'html', slot: HTMLElement): Promise<void> {
    this.jobErrors.delete(job.job_id);
    showError(slot, null);
    try {
      await openJobOutput(this.host, job, what);
    } catch (error) {
      this.jobErrors.set(job.job_id, message(error));
      showError(slot, message(error));
    }
  }

  // --- rendering --------------------------------------------------------------------

  private render(): void {
    const status = this.status;
    redraw(this.connectionBox, status, () => {
      if (!status) {
        return [h('p', {}, 'Connecting…')];
      }
      const state = status.reachable
        ? h('span', { className: 'jp-NsightLab-badge jp-mod-ok' }, 'connected')
        : h('span', { className: 'jp-NsightLab-badge jp-mod-bad' }, 'unreachable');
      return [
        h('p', {}, 'Gateway ', h('code', {}, status.gateway ?? '?'), ' ', state),
        status.error ? h('p', { className: 'jp-NsightLab-error', role: 'alert' }, status.error) : ''
      ];
    });
    const tagStatus = this.tagStatus;
    redraw(this.agentsBox, tagStatus?.agents ?? null, () => {
      const agents = tagStatus?.agents ?? [];
      if (!agents.length) {
        return [h('p', { className: 'jp-NsightLab-muted' }, `No agents under tag "${this.tag}". Start one with: nsight-lab run -- python train.py`)];
      }
      return [
        h(
          'ul',
          { className: 'jp-NsightLab-list', 'aria-label': 'Agents' },
          ...agents.map(a =>
            h(
              'li',
              { className: 'jp-NsightLab-agent' },
              h('span', { className: 'jp-NsightLab-strong' }, a.process_name),
              ` ${a.instance} · ${a.collector} · pid ${a.pid} `,
              h('span', { className: `jp-NsightLab-badge jp-mod-${a.state === 'ONLINE' ? 'ok' : 'bad'}` }, a.state)
            )
          )
        )
      ];
    });
    redraw(this.sessionsBox, { s: this.sessions, sel: this.selectedSession }, () => {
      if (!this.sessions.length) {
        return [h('p', { className: 'jp-NsightLab-muted' }, 'No sessions yet: begin one above.')];
      }
      return [h('ul', { className: 'jp-NsightLab-list', 'aria-label': 'Sessions' }, ...this.sessions.map(s => this.sessionRow(s)))];
    });
    const session = this.sessions.find(s => s.session_id === this.selectedSession) ?? null;
    redraw(this.detailBox, { session, files: this.files }, () => (session ? this.sessionDetail(session) : []));
    this.renderScopes();
  }

  private sessionRow(s: SessionInfo): HTMLElement {
    const selected = s.session_id === this.selectedSession;
    return h(
      'li',
      {},
      h(
        'button',
        {
          type: 'button',
          className: 'jp-NsightLab-session',
          'aria-pressed': String(selected),
          'data-focus': `session-${s.session_id}`,
          'data-session': s.session_id,
          onclick: () => {
            this.selectedSession = s.session_id;
            void this.refresh();
          }
        },
        h('span', { className: 'jp-NsightLab-strong' }, s.title || '(untitled)'),
        ' ',
        h('span', { className: `jp-NsightLab-badge jp-mod-${s.state === 'ACTIVE' ? 'busy' : 'idle'}` }, s.state),
        h('br'),
        h('small', {}, `${formatTime(s.created_at)} · ${s.collections.length} collection${s.collections.length === 1 ? '' : 's'}${s.ended_at ? ` · ${elapsed(s.created_at, s.ended_at)}` : ''}`)
      )
    );
  }

  private sessionDetail(session: SessionInfo): (Node | string)[] {
    const parts: (Node | string)[] = [h('h4', {}, `Collections of “${session.title || session.session_id}”`)];
    if (!session.collections.length) {
      parts.push(h('p', { className: 'jp-NsightLab-muted' }, 'No collections yet: press Start, then Stop.'));
    }
    for (const c of [...session.collections].sort((a, b) => a.index - b.index)) {
      const files = this.files.filter(f => f.collection_id === c.collection_id);
      parts.push(
        h(
          'div',
          { className: 'jp-NsightLab-collection', 'data-collection': c.index },
          h(
            'p',
            {},
            h('span', { className: 'jp-NsightLab-strong' }, `#${c.index}`),
            ' ',
            h('span', { className: `jp-NsightLab-badge jp-mod-${collectionTone(c.state)}` }, c.state),
            ` ${formatTime(c.started_at)} · ${elapsed(c.started_at, c.stopped_at)} `,
            files.some(canViewTrace)
              ? h(
                  'button',
                  {
                    type: 'button',
                    className: 'jp-NsightLab-link',
                    'data-action': 'view-collection',
                    'data-focus': `view-c-${c.collection_id}`,
                    title: 'Every report of this collection on one time axis',
                    onclick: () => this.host.viewTrace({ collection_id: c.collection_id }, `${session.title || 'session'} #${c.index}`)
                  },
                  'View trace'
                )
              : null
          ),
          files.length
            ? h(
                'table',
                { className: 'jp-NsightLab-files' },
                h('caption', { className: 'jp-NsightLab-sr' }, `Files of collection ${c.index}`),
                h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Report'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, h('span', { className: 'jp-NsightLab-sr' }, 'Actions')))),
                h(
                  'tbody',
                  {},
                  ...files.map(f =>
                    h(
                      'tr',
                      {},
                      h(
                        'td',
                        {},
                        h('a', { href: api.fileDownloadUrl(f.file_id), download: f.filename, title: `Download ${f.filename}`, 'data-focus': `file-${f.file_id}` }, fileLabel(f)),
                        h('small', { className: 'jp-NsightLab-muted' }, `${f.collector} · ${f.kind}`),
                        traceState(f).problem
                          ? h('small', { className: 'jp-NsightLab-error', title: traceState(f).problem ?? '' }, `${traceState(f).text}: ${traceState(f).problem}`)
                          : null
                      ),
                      h('td', { className: 'jp-NsightLab-num' }, formatBytes(f.size)),
                      h(
                        'td',
                        {},
                        canViewTrace(f)
                          ? h('button', { type: 'button', className: 'jp-NsightLab-link', 'data-action': 'view-file', 'data-focus': `view-f-${f.file_id}`, 'aria-label': `View trace of ${f.filename}`, onclick: () => this.host.viewTrace({ file_ids: [f.file_id] }, fileLabel(f)) }, 'View')
                          : null
                      )
                    )
                  )
                )
              )
            : h('p', { className: 'jp-NsightLab-muted' }, c.state === 'RUNNING' ? 'Recording…' : 'No files yet.')
        )
      );
    }
    return parts;
  }

  private renderScopes(): void {
    const current = this.scopeSelect.value;
    redraw(this.scopeSelect, this.sessions.map(s => [s.session_id, s.title]), () => [
      h('option', { value: '' }, 'the active or latest session'),
      ...this.sessions.map(s => h('option', { value: s.session_id }, `${s.title || '(untitled)'} · ${formatTime(s.created_at)}`))
    ]);
    this.scopeSelect.value = current;
  }

  private renderJobs(): void {
    redraw(this.jobsBox, { jobs: this.jobs, errors: [...this.jobErrors] }, () => {
      if (!this.jobs.length) {
        return [h('p', { className: 'jp-NsightLab-muted' }, 'No jobs yet.')];
      }
      return [h('ul', { className: 'jp-NsightLab-list', 'aria-label': 'Jobs' }, ...this.jobs.map(j => this.jobRow(j)))];
    });
  }

  private jobRow(job: JobInfo): HTMLElement {
    const fraction = progressFraction(job);
    const slot = h('p', { className: 'jp-NsightLab-error', role: 'alert', hidden: !this.jobErrors.has(job.job_id) }, this.jobErrors.get(job.job_id) ?? '');
    const progress = h('progress', { max: 1, 'aria-label': `Progress of ${job.recipe}` });
    if (fraction !== null) {
      progress.value = fraction;
    }
    const openable = canOpenNotebook(job);
    return h(
      'li',
      { className: 'jp-NsightLab-job', 'data-job': job.job_id, 'data-state': job.state },
      h('p', {}, h('span', { className: 'jp-NsightLab-strong' }, job.recipe), ' ', h('span', { className: `jp-NsightLab-badge jp-mod-${jobTone(job.state)}` }, job.state), ` ${formatTime(job.created_at)}`),
      progress,
      h('small', { className: 'jp-NsightLab-muted' }, progressText(job)),
      openable
        ? h(
            'div',
            { className: 'jp-NsightLab-buttons' },
            h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', 'data-focus': `nb-${job.job_id}`, 'data-action': 'open-notebook', onclick: () => void this.openJob(job, 'notebook', slot) }, 'Open notebook'),
            h('button', { type: 'button', className: 'jp-mod-styled jp-NsightLab-button', 'data-focus': `html-${job.job_id}`, 'data-action': 'open-html', onclick: () => void this.openJob(job, 'html', slot) }, 'Open HTML')
          )
        : null,
      slot
    );
  }
}
