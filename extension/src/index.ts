/**
 * nsight-lab's JupyterLab plugin: the "Nsight" sidebar, the main-area Sessions view
 * and trace tabs, palette commands and a launcher card. Everything it shows comes
 * from the server extension under `<base>/nsight-lab/`.
 */

import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';

import type { NsightHost } from './actions';
import { nsightIcon } from './icon';
import { NsightPanel } from './panel';
import { SessionsView } from './sessionsView';
import { TraceViewer, traceWidgetId } from './traceViewer';
import type { SessionInfo, TraceRequest } from './types';

export namespace CommandIDs {
  export const open = 'nsight-lab:open';
  export const begin = 'nsight-lab:begin-session';
  export const start = 'nsight-lab:start';
  export const stop = 'nsight-lab:stop';
  export const end = 'nsight-lab:end-session';
  export const analysis = 'nsight-lab:open-analysis';
  export const refresh = 'nsight-lab:refresh';
  export const sessions = 'nsight-lab:sessions';
  export const viewTrace = 'nsight-lab:view-trace';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nsight-lab:plugin',
  description: 'Profile GPU workloads and analyse the reports from a JupyterLab sidebar.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, ILabShell],
  activate: (app: JupyterFrontEnd, palette: ICommandPalette | null, launcher: ILauncher | null) => {
    let sessions: SessionsView | null = null;
    const host: NsightHost = {
      openPath: async (path: string) => {
        await app.commands.execute('docmanager:open', { path });
      },
      viewTrace: (request: TraceRequest, label: string) => {
        const open = Array.from(app.shell.widgets('main')).find(w => w.id === traceWidgetId(request));
        const viewer = open ?? new TraceViewer(request, label);
        if (!open) {
          app.shell.add(viewer, 'main', { mode: 'tab-after' });
        }
        app.shell.activateById(viewer.id);
      },
      openSessions: (sessionId?: string) => {
        if (!sessions || sessions.isDisposed) {
          sessions = new SessionsView(host);
          sessions.title.icon = nsightIcon;
        }
        if (!sessions.isAttached) {
          app.shell.add(sessions, 'main');
        }
        app.shell.activateById(sessions.id);
        sessions.showSession(sessionId ?? null);
      },
      analyse: async (session: SessionInfo) => {
        app.shell.activateById(panel.id);
        await panel.analyse(session);
      }
    };
    const panel: NsightPanel = new NsightPanel(host);
    panel.title.icon = nsightIcon;
    app.shell.add(panel, 'left', { rank: 800 });

    const reveal = (tab: 'profile' | 'analysis' = 'profile'): void => {
      app.shell.activateById(panel.id);
      panel.showTab(tab);
    };
    const action = (label: string, id: string, run: () => Promise<void>, tab: 'profile' | 'analysis' = 'profile'): void => {
      app.commands.addCommand(id, {
        label,
        caption: label,
        icon: nsightIcon,
        execute: async () => {
          // Show the panel first: that is where a refusal (e.g. "no agents") appears.
          reveal(tab);
          await run();
        }
      });
      palette?.addItem({ command: id, category: 'Nsight' });
    };
    action('Nsight: Open panel', CommandIDs.open, async () => undefined);
    action('Nsight: Begin session', CommandIDs.begin, () => panel.beginSession());
    action('Nsight: Start profiling', CommandIDs.start, () => panel.startProfiling());
    action('Nsight: Stop profiling', CommandIDs.stop, () => panel.stopProfiling());
    action('Nsight: End session', CommandIDs.end, () => panel.endSession());
    action('Nsight: Run a recipe', CommandIDs.analysis, async () => undefined, 'analysis');
    action('Nsight: Refresh', CommandIDs.refresh, () => panel.refresh());
    app.commands.addCommand(CommandIDs.sessions, {
      label: 'Nsight: All sessions',
      caption: 'Every profiling session you may see, in a sortable, filterable table',
      icon: nsightIcon,
      execute: () => host.openSessions()
    });
    palette?.addItem({ command: CommandIDs.sessions, category: 'Nsight' });
    app.commands.addCommand(CommandIDs.viewTrace, {
      label: 'Nsight: View trace',
      caption: 'Open stored reports ({file_ids: [...]} or {collection_id}) as a Timeline',
      icon: nsightIcon,
      execute: args => {
        const request = (args.collection_id ? { collection_id: String(args.collection_id) } : { file_ids: (args.file_ids as string[]) ?? [] }) as TraceRequest;
        host.viewTrace(request, String(args.label ?? 'trace'));
      }
    });

    launcher?.add({ command: CommandIDs.open, category: 'Other', rank: 1 });
  }
};

export default plugin;
