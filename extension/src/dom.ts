/** A tiny element builder: the panel is plain DOM, so it needs no UI framework. */

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    } else if (key === 'className') {
      el.className = String(value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** Shows `message` in an error slot (role=alert, so screen readers announce it). */
export function showError(slot: HTMLElement, message: string | null): void {
  slot.textContent = message ?? '';
  slot.hidden = !message;
}

/**
 * Redraws `container` with `render()` when `data` differs from last time, and finds
 * the focused control again afterwards (by its `data-focus` key), so polling never
 * steals the keyboard from the user.
 */
export function redraw(container: HTMLElement, data: unknown, render: () => (Node | string)[]): void {
  const key = JSON.stringify(data);
  if (container.dataset.drawn === key) {
    return;
  }
  const focused = (document.activeElement as HTMLElement | null)?.dataset?.focus;
  container.replaceChildren(...render());
  container.dataset.drawn = key;
  if (focused) {
    container.querySelector<HTMLElement>(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
  }
}
