// JobMonitor front end: one line per job with progress, outputs as links, and cancel.

/** Fraction done for a progress bar; a finished job is full whatever its counts say. */
export function progressFraction(job) {
  if (job.finished) return 1;
  if (!job.total) return 0;
  return Math.min(Math.max(job.done / job.total, 0), 1);
}

/** Outputs worth a link first: the HTML report, then the notebook, then data, then the rest. */
export function orderedOutputs(outputs) {
  const rank = { HTML: 0, Notebook: 1, Parquet: 2, CSV: 2, Record: 3, Log: 4 };
  return [...outputs].sort(
    (a, b) => (rank[a.kind] ?? 5) - (rank[b.kind] ?? 5) || a.name.localeCompare(b.name),
  );
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "nsl-panel";
  const list = document.createElement("div");
  const note = document.createElement("div");
  note.className = "nsl-error";
  root.append(list, note);
  el.append(root);

  function update() {
    list.replaceChildren(
      ...model.get("jobs").map((job) => {
        const row = document.createElement("div");
        row.className = "nsl-row";
        const label = document.createElement("strong");
        label.textContent = `${job.recipe} (${job.job_id.slice(0, 8)})`;
        const bar = document.createElement("progress");
        bar.max = 1;
        bar.value = progressFraction(job);
        const state = document.createElement("span");
        state.textContent = job.finished
          ? job.state + (job.error ? `: ${job.error}` : "")
          : `${job.state}: ${job.phase} ${job.done}/${job.total}`;
        if (job.state === "failed") state.className = "nsl-error";
        row.append(label, bar, state);
        if (!job.finished) {
          const cancel = document.createElement("button");
          cancel.textContent = "Cancel";
          cancel.addEventListener("click", () => model.send({ action: "cancel", job_id: job.job_id }));
          row.append(cancel);
        }
        for (const out of orderedOutputs(job.outputs)) {
          const a = document.createElement("a");
          a.href = out.url;
          a.target = "_blank";
          a.rel = "noopener";
          a.textContent = out.name;
          row.append(a);
        }
        return row;
      }),
    );
    note.textContent = model.get("error");
  }
  model.on("change:jobs", update);
  model.on("change:error", update);
  update();
}

export default { render };
