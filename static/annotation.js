// The review page: keyboard shortcuts and the time-spent measure (docs/annotation.md).
// 1–5 verdict (in an aspect row: that aspect), Ctrl+Enter submit, S skip, U undo, ? help.
(() => {
  "use strict";

  if (window.htmx) {
    // A rejected judgment comes back as 422 with the form, the answers and the message: show it.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
    ];
  }

  // Time spent: milliseconds the page was visible while the pair was on screen, plus
  // what an undone judgment had already taken (data-time-offset). The server caps it
  // at the lease's running time.
  const timer = { visibleMs: 0, since: null };
  function startTimer() {
    const form = document.getElementById("review-form");
    timer.visibleMs = form ? Number(form.dataset.timeOffset || 0) : 0;
    timer.since = document.visibilityState === "visible" ? performance.now() : null;
  }
  function elapsedMs() {
    return Math.round(timer.visibleMs + (timer.since === null ? 0 : performance.now() - timer.since));
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      timer.since = performance.now();
    } else if (timer.since !== null) {
      timer.visibleMs += performance.now() - timer.since;
      timer.since = null;
    }
  });
  document.addEventListener("submit", (event) => {
    if (event.target.id === "review-form") event.target.elements.time_spent_ms.value = elapsedMs();
  }, true);

  // htmx wires up swapped-in content only once it settles (20 ms later); a submit or undo
  // pressed in between waits for that instead of falling back to a full page post.
  let settled = true;
  let queued = null;
  const whenSettled = (action) => { if (settled) action(); else queued = action; };
  document.addEventListener("htmx:afterSwap", () => {
    settled = false;
    // The new pair is on screen from the swap: time it from here, not from the settle
    // 20 ms later (a submit queued in between ran just after a restart and recorded 0 ms).
    if (document.getElementById("workspace")) startTimer();
  });

  const openDialog = () => document.querySelector("dialog[open]");
  const reviewForm = () => document.querySelector("#review-form, #reveal-form");
  const typing = (element) => element instanceof HTMLElement && (element.isContentEditable ||
    element.matches("textarea, select, input:not([type=radio]):not([type=checkbox]):not([type=submit]):not([type=button])"));

  function openSkip() {
    const dialog = document.getElementById("skip-dialog");
    if (!dialog) return;
    dialog.showModal();
    dialog.querySelector("select").focus();
  }
  function toggleHelp() {
    const help = document.getElementById("shortcuts");
    if (help.open) help.close(); else help.showModal();
  }
  function choose(key, target) {
    const group = target.closest?.("[data-digit-group]") || reviewForm()?.querySelector(".verdicts");
    const input = group?.querySelector(`input[data-key="${key}"]`);
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    const dialog = openDialog();
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      whenSettled(() => {
        const confirm = openDialog()?.querySelector("[data-action=confirm-skip]");
        if (confirm) confirm.click(); else reviewForm()?.requestSubmit();
      });
      return;
    }
    if (dialog) {
      // Enter in the skip note skips (it would otherwise submit the judgment form).
      if (event.key === "Enter" && event.target.matches("#skip-dialog input[type=text]")) {
        event.preventDefault();
        whenSettled(() => dialog.querySelector("[data-action=confirm-skip]").click());
      } else if (event.key === "?" && dialog.id === "shortcuts") {
        event.preventDefault();
        dialog.close();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = event.key;
    if (/^[1-9]$/.test(key)) {
      if (choose(key, event.target)) event.preventDefault();
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      openSkip();
    } else if (key === "u" || key === "U") {
      event.preventDefault();
      whenSettled(() => document.querySelector("[data-action=undo]")?.click());
    } else if (key === "?") {
      event.preventDefault();
      toggleHelp();
    }
  });

  document.addEventListener("click", (event) => {
    const action = event.target.closest?.("[data-action]")?.dataset.action;
    if (action === "skip") openSkip();
    else if (action === "help") toggleHelp();
    else if (action === "close") event.target.closest("dialog")?.close();
  });

  // A new pair (or the same one with a message) was swapped in: start over at the top.
  document.addEventListener("htmx:afterSettle", () => {
    const workspace = document.getElementById("workspace");
    if (workspace) {
      window.scrollTo({ top: 0 });
      workspace.focus({ preventScroll: true });
    }
    settled = true;
    const action = queued;
    queued = null;
    if (action) action();
  });

  startTimer();
})();
