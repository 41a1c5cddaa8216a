// The desk's own script (no inline script anywhere: the CSP is script-src 'self').
// Lease countdowns, keyboard shortcuts, and resuming the live stream from the last event seen.
(function () {
  "use strict";
  var lastEventId = null;

  // The SSE extension opens a new EventSource after an error; carry the last id so the server resumes there
  // (the browser's own reconnect sends Last-Event-ID by itself).
  htmx.createEventSource = function (url) {
    var full = lastEventId ? url + (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + encodeURIComponent(lastEventId) : url;
    return new EventSource(full);
  };
  document.addEventListener("htmx:sseMessage", function (e) {
    if (e.detail && e.detail.lastEventId) { lastEventId = e.detail.lastEventId; }
  });

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.deadline) - now) / 1000));
      el.textContent = left + " s";
      if (left === 0 && !el.dataset.over) {
        el.dataset.over = "1";
        var panel = el.closest("#task");
        if (panel) { htmx.trigger(panel, "lease-over"); }
      }
    });
  }
  setInterval(tick, 1000);
  setInterval(function () { htmx.trigger(document.body, "every-minute"); }, 60000);

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) { return; }
    var focus = document.querySelector('[data-focus-key="' + e.key + '"]');
    if (focus) { e.preventDefault(); focus.focus(); return; }
    var button = document.querySelector('button[data-key="' + e.key + '"]');
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  });
})();
