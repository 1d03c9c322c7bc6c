/**
 * nsight-lab's JupyterLab plugin: the "Nsight" sidebar, palette commands and a
 * launcher card. Everything it shows comes from the server extension under
 * `<base>/nsight-lab/`.
 */

import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';

import { nsightIcon } from './icon';
import { NsightPanel } from './panel';

export namespace CommandIDs {
  export const open = 'nsight-lab:open';
  export const begin = 'nsight-lab:begin-session';
  export const start = 'nsight-lab:start';
  export const stop = 'nsight-lab:stop';
  export const end = 'nsight-lab:end-session';
  export const analysis = 'nsight-lab:open-analysis';
  export const refresh = 'nsight-lab:refresh';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nsight-lab:plugin',
  description: 'Profile GPU workloads and analyse the reports from a JupyterLab sidebar.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, ILabShell],
  activate: (app: JupyterFrontEnd, palette: ICommandPalette | null, launcher: ILauncher | null) => {
    const panel = new NsightPanel({
      openPath: async (path: string) => {
        await app.commands.execute('docmanager:open', { path });
      }
    });
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

    launcher?.add({ command: CommandIDs.open, category: 'Other', rank: 1 });
  }
};

export default plugin;
