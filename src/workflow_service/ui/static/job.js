// A job's page: while the job is new or active, follow its event stream (/ui/jobs/{id}/events, the API's stream as
// this person) and on each event read the page again and swap its live sections (status, actions, usage, output,
// steps, history, deliveries); when the job ends the output shows without a reload. Also the notification toggle.
import { toast } from "./ui.js";

const page = document.getElementById("job-page");

async function swapLiveSections() {
  const response = await fetch(page.dataset.page, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const section of fresh.querySelectorAll("[data-live][id]")) {
    const current = document.getElementById(section.id);
    if (current) current.replaceWith(document.importNode(section, true));
    else if (section.id === "job-deliveries") page.append(document.importNode(section, true));
  }
}

function follow() {
  if (!page || !page.dataset.following || !window.EventSource) return;
  let timer = null;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => swapLiveSections().catch(() => {}), 250);
  };
  const source = new EventSource(page.dataset.events);
  const ended = (data) => ["completed", "failed", "canceled"].includes(data?.to_status);
  source.addEventListener("status", (event) => {
    soon();
    let data = null;
    try { data = JSON.parse(event.data); } catch { /* a status event always has JSON */ }
    if (ended(data)) source.close();
  });
  source.addEventListener("step.started", soon);
  source.addEventListener("step.ended", soon);
  // The stream ends with the job (an answer of 204 on reconnecting): read the page once more, and stop.
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) soon();
  });
  window.addEventListener("pagehide", () => source.close());
}

function notificationToggle() {
  const box = document.getElementById("notify-toggle");
  if (!box) return;
  if (!("Notification" in window)) { box.disabled = true; return; }
  box.checked = Notification.permission === "granted";
  box.addEventListener("change", async () => {
    if (!box.checked) {
      toast("To stop notifications, turn them off in this site's settings of your browser.", "info");
      box.checked = Notification.permission === "granted";
      return;
    }
    const answer = await Notification.requestPermission();
    box.checked = answer === "granted";
    toast(answer === "granted" ? "You will be notified when your jobs end." : "Notifications are blocked in this browser.", "info");
  });
}

follow();
notificationToggle();
