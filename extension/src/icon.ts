import { LabIcon } from '@jupyterlab/ui-components';

/** A stopwatch over a bar chart; `jp-icon3` lets the theme pick its colour. */
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M9 1h6v2H9zM12 5a9 9 0 1 0 0 18 9 9 0 0 0 0-18zm0 2a7 7 0 1 1 0 14 7 7 0 0 1 0-14z"/>
    <path d="M8 17h2v-4H8zM11 17h2V10h-2zM14 17h2v-6h-2z"/>
  </g>
</svg>`;

export const nsightIcon = new LabIcon({ name: 'nsight-lab:icon', svgstr: svg });
