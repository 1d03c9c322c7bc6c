// SessionControl front end: shows the synced state and sends button actions to the kernel.

export function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Which buttons make sense for the session shown: mirrors what the coordinator accepts. */
export function enabledActions(session, agents, busy) {
  if (busy) return { begin: false, start: false, stop: false, end: false };
  const active = session && session.state === "ACTIVE";
  const running = Boolean(
    active && (session.collections || []).some((c) => c.state === "RUNNING"),
  );
  const online = (agents || []).some((a) => a.state === "ONLINE");
  return { begin: !active, start: online && !running, stop: running, end: Boolean(active) };
}

function table(headers, rows) {
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const h of headers) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const cell of r) tr.insertCell().textContent = cell;
  }
  return t;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "nsl-panel";
  el.append(root);

  function button(label, action) {
    const b = document.createElement("button");
    b.textContent = label;
    b.addEventListener("click", () => {
      const msg = { action };
      if (action === "begin") msg.title = title.value;
      model.send(msg);
    });
    return b;
  }
  const title = document.createElement("input");
  title.placeholder = "session title";
  title.setAttribute("aria-label", "session title");
  title.addEventListener("change", () => {
    model.set("title", title.value);
    model.save_changes();
  });
  const buttons = {
    begin: button("Begin", "begin"),
    start: button("Start", "start"),
    stop: button("Stop", "stop"),
    end: button("End", "end"),
  };
  const refresh = button("Refresh", "refresh");
  const status = document.createElement("div");
  const controls = document.createElement("div");
  controls.className = "nsl-row";
  controls.append(title, buttons.begin, buttons.start, buttons.stop, buttons.end, refresh);
  const note = document.createElement("div");
  const details = document.createElement("div");
  root.append(status, controls, note, details);

  function update() {
    const agents = model.get("agents");
    const session = model.get("session");
    const files = model.get("files");
    const busy = model.get("busy");
    const online = agents.filter((a) => a.state === "ONLINE").length;
    status.textContent = `tag ${model.get("tag")} at ${model.get("gateway")}: ${online} agent(s) online` +
      (session.session_id ? ` · session "${session.title || session.session_id}" ${session.state}` : " · no session");
    if (title.value === "" && model.get("title")) title.value = model.get("title");
    const enabled = enabledActions(session, agents, busy);
    for (const [k, b] of Object.entries(buttons)) b.disabled = !enabled[k];
    refresh.disabled = busy;
    const err = model.get("error");
    note.textContent = err || model.get("message");
    note.className = err ? "nsl-error" : "nsl-muted";
    details.replaceChildren(
      table(
        ["process", "instance", "collector", "state"],
        agents.map((a) => [a.process_name, a.instance, a.collector, a.state]),
      ),
      table(
        ["collection", "state", "participants"],
        (session.collections || []).map((c) => [
          String(c.index),
          c.state,
          c.participants.map((p) => `${p.process_name}/${p.instance}: ${p.state}`).join(", "),
        ]),
      ),
      table(
        ["file", "collection", "kind", "size"],
        files.map((f) => [f.filename, String(f.collection_index), f.kind, formatBytes(f.size)]),
      ),
    );
  }
  for (const name of ["agents", "session", "files", "busy", "error", "message", "tag", "gateway"]) {
    model.on(`change:${name}`, update);
  }
  update();
}

export default { render };
