// The jobs list: the selection (how many, and "Delete selected" only with some), and the live rows: while a row's
// job is active its status, last updated, last completed and duration cells are read again every few seconds.
import { request, uiRoot } from "./ui.js";

const POLL_MS = 3000;

function wireSelection() {
  const form = document.getElementById("jobs-form");
  const button = document.getElementById("delete-selected");
  const count = document.getElementById("selected-count");
  if (!form || !button) return;
  const update = () => {
    const selected = form.querySelectorAll("input.job-check:checked:not(:disabled)").length;
    button.disabled = selected === 0;
    count.textContent = `${selected} selected`;
    form.dataset.confirm = `Delete ${selected} selected job${selected === 1 ? "" : "s"}? Their outputs, steps and history are removed; it cannot be undone.`;
  };
  form.addEventListener("change", update);
  update();
}

function activeIds() {
  return [...document.querySelectorAll("tr[data-job][data-active]")].map((row) => row.dataset.job);
}

async function refreshRows() {
  const ids = activeIds();
  if (ids.length === 0) return false;
  const query = ids.map((id) => `id=${encodeURIComponent(id)}`).join("&");
  const answer = await request(`${uiRoot()}/jobs/rows?${query}`);
  for (const item of answer.items) {
    const row = document.querySelector(`tr[data-job="${item.id}"]`);
    if (!row) continue;
    for (const cell of ["status", "updated", "completed", "duration"]) {
      const td = row.querySelector(`[data-cell="${cell}"]`);
      if (td && td.innerHTML !== item[cell]) td.innerHTML = item[cell];
    }
    if (!item.active) {
      delete row.dataset.active;
      row.querySelectorAll("button[form^='cancel-']").forEach((b) => b.remove());
    }
  }
  return activeIds().length > 0;
}

function followRows() {
  if (activeIds().length === 0) return;
  const timer = setInterval(async () => {
    if (document.hidden) return;
    try {
      if (!(await refreshRows())) clearInterval(timer);
    } catch (error) {
      if (error.status === 401) clearInterval(timer);
    }
  }, POLL_MS);
}

wireSelection();
followRows();
