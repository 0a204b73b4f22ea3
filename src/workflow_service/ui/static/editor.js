// The workflow pages: the draft editor (a problem's line selected in the text, a warning before unsaved text is
// left), dialogs opened by buttons (deleting a workflow asks for its slug), "Copy and close" for a secret shown
// once, and the secure toggle's warning. Every page works without it: forms post and redirect.
import { confirmDialog } from "./ui.js";

function selectLine(area, line) {
  const lines = area.value.split("\n");
  const index = Math.max(0, Math.min(line, lines.length) - 1);
  const start = lines.slice(0, index).reduce((sum, text) => sum + text.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + lines[index].length);
  const height = area.scrollHeight / Math.max(lines.length, 1);
  area.scrollTop = Math.max(0, index * height - area.clientHeight / 3);
}

function wireLines() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest?.("a[data-line]");
    if (!link) return;
    const target = document.getElementById(link.dataset.target);
    if (!(target instanceof HTMLTextAreaElement)) return;
    event.preventDefault();
    selectLine(target, Number(link.dataset.line));
  });
}

function wireUnsaved() {
  const area = document.querySelector("#draft-form textarea");
  if (!area) return;
  const saved = area.value;
  let submitting = false;
  area.form.addEventListener("submit", () => { submitting = true; });
  document.addEventListener("click", async (event) => {
    const link = event.target.closest?.(".wf-format a, .workflow-nav a");
    if (!link || submitting || area.value === saved) return;
    event.preventDefault();
    if (await confirmDialog("The draft has changes that are not saved. Leave without saving them?", "Leave")) {
      window.location.assign(link.href);
    }
  });
}

function wireDialogs() {
  document.addEventListener("click", (event) => {
    const opener = event.target.closest?.("[data-open-dialog]");
    if (opener) document.querySelector(opener.dataset.openDialog)?.showModal();
    const closer = event.target.closest?.("[data-close-dialog]");
    if (closer) closer.closest("dialog")?.close();
  });
  for (const dialog of document.querySelectorAll("dialog[data-show]")) dialog.showModal();
  for (const input of document.querySelectorAll("input[data-must-equal]")) {
    const button = input.form.querySelector("button[type=submit]");
    const check = () => { button.disabled = input.value.trim() !== input.dataset.mustEqual; };
    input.addEventListener("input", check);
    check();
  }
}

function wireSecrets() {
  // "Copy and close": ui.js copies (data-copy); the secret's box then goes, and with it the only copy on screen.
  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-close-after-copy]");
    if (!button) return;
    setTimeout(() => document.querySelector(button.dataset.closeAfterCopy)?.remove(), 400);
  });
  for (const toggle of document.querySelectorAll("input[data-secure-toggle]")) {
    const warning = document.getElementById(toggle.dataset.secureToggle);
    const show = () => { if (warning) warning.hidden = !toggle.checked; };
    toggle.addEventListener("change", show);
    show();
  }
}

wireLines();
wireUnsaved();
wireDialogs();
wireSecrets();
