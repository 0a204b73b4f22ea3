// The dashboard's shared behaviour: CSRF on every script request, confirmation dialogs, copy buttons, clickable
// rows, select-all boxes, and the notices of the person's jobs that end while any page is open.
// Pages work without it (forms post and redirect); it adds dialogs and live updates.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
export const csrfToken = () => meta("csrf-token");
export const uiRoot = () => meta("ui-root");

/** A request of the dashboard's own (JSON answer), with the session's CSRF token. */
export async function request(url, { method = "GET", body, form } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!response.ok) throw Object.assign(new Error(data?.detail || `HTTP ${response.status}`), { status: response.status, data });
  return data;
}

/** A short message in the corner (read by screen readers: the region is aria-live). */
export function toast(message, kind = "info", link = null) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  const icon = { completed: "✓", failed: "✕", error: "✕", info: "ℹ" }[kind] ?? "ℹ";
  item.append(`${icon} ${message} `);
  if (link) { const a = document.createElement("a"); a.href = link; a.textContent = "Open"; item.append(a); }
  box.append(item);
  setTimeout(() => item.remove(), 8000);
}

/** Ask in the page's dialog; resolves true when confirmed. */
export function confirmDialog(message, okLabel = "Confirm") {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog?.showModal) return Promise.resolve(window.confirm(message));
  dialog.querySelector("#confirm-message").textContent = message;
  dialog.querySelector("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true }));
}

function wireConfirmations() {
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed) return;
    event.preventDefault();
    const submitter = event.submitter;
    if (await confirmDialog(form.dataset.confirm, form.dataset.confirmLabel || "Confirm")) {
      form.dataset.confirmed = "1";
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    }
  });
}

function wireCopyButtons() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest?.("[data-copy]");
    if (!button) return;
    const target = document.querySelector(button.dataset.copy);
    const text = target ? (target.value ?? target.textContent).trim() : "";
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = Object.assign(document.createElement("textarea"), { value: text });
      document.body.append(area); area.select(); document.execCommand("copy"); area.remove();
    }
    const label = button.textContent;
    button.textContent = "Copied ✓";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}

function wireRows() {
  // A row with data-href opens on click (its first link stays the keyboard's way in).
  document.addEventListener("click", (event) => {
    const row = event.target.closest?.("tr[data-href]");
    if (!row || event.target.closest("a, button, input, label, select, textarea")) return;
    window.location.assign(row.dataset.href);
  });
  document.addEventListener("change", (event) => {
    const all = event.target.closest?.("input[data-select-all]");
    if (!all) return;
    document.querySelectorAll(all.dataset.selectAll).forEach((box) => { box.checked = all.checked; box.dispatchEvent(new Event("change", { bubbles: true })); });
  });
}

function refreshTimes() {
  const units = [["d", 86400], ["h", 3600], ["min", 60]];
  for (const el of document.querySelectorAll("time[datetime]")) {
    const seconds = Math.round((Date.now() - Date.parse(el.getAttribute("datetime"))) / 1000);
    if (Number.isNaN(seconds)) continue;
    const abs = Math.abs(seconds);
    let text = abs < 10 ? "just now" : `${abs} s`;
    for (const [unit, size] of units) if (abs >= size) { text = `${Math.floor(abs / size)} ${unit}`; break; }
    if (abs >= 10) text = seconds < 0 ? `in ${text}` : `${text} ago`;
    el.textContent = text;
  }
}

const NOTICE_KEY = "wfs.notices.since";

async function pollNotices() {
  if (!csrfToken()) return; // not signed in
  let since = sessionStorage.getItem(NOTICE_KEY) || new Date().toISOString();
  sessionStorage.setItem(NOTICE_KEY, since);
  const seen = new Set(JSON.parse(sessionStorage.getItem("wfs.notices.seen") || "[]"));
  const tick = async () => {
    if (document.hidden) return;
    try {
      const answer = await request(`${uiRoot()}/notices?since=${encodeURIComponent(since)}`);
      for (const job of answer.items) {
        if (seen.has(job.id + job.status)) continue;
        seen.add(job.id + job.status);
        const word = job.status === "completed" ? "completed" : "failed";
        toast(`Job “${job.name}” ${word}.`, job.status, job.url);
        if ("Notification" in window && Notification.permission === "granted") new Notification(`Job ${word}`, { body: job.name });
        document.dispatchEvent(new CustomEvent("wfs:job-ended", { detail: job }));
      }
      since = answer.next;
      sessionStorage.setItem(NOTICE_KEY, since);
      sessionStorage.setItem("wfs.notices.seen", JSON.stringify([...seen].slice(-200)));
    } catch (error) {
      if (error.status === 401) clearInterval(timer);
    }
  };
  const timer = setInterval(tick, 4000);
}

wireConfirmations();
wireCopyButtons();
wireRows();
setInterval(refreshTimes, 15000);
pollNotices();
