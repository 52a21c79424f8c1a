/* flask-supportdesk staff desk: keyboard shortcuts and the Main / Internal tabs.
   Progressive enhancement only: every page works without it (both panes show, rows
   and buttons are ordinary links and forms). Loaded with `defer`; no inline scripts,
   since the desk's Content-Security-Policy forbids them.

   Shortcuts (ignored while typing in a field):
     j / k    move the selection in the ticket list     Enter  open the selected ticket
     n / p    next / previous ticket (of the last list)  /      focus the search box
     r        Main tab, reply to the customer            i      Internal tab, write a note
     Ctrl+Enter (or Cmd+Enter) in a composer sends it.
   Each tab has its own composer (a form with its own hidden channel), so the tab one is
   on is where the text goes: nothing here turns a reply into a note or back. */
(function () {
  "use strict";

  var LIST_KEY = "supportdesk.desk.list";

  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  /* ---- the ticket list: j/k selection, Enter opens, remembered for n/p ---- */

  function listRows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-sd-list] tr[data-href]"));
  }

  function select(rows, index) {
    rows.forEach(function (row) { row.classList.remove("sd-selected"); row.removeAttribute("aria-selected"); });
    if (!rows.length) { return -1; }
    index = Math.max(0, Math.min(rows.length - 1, index));
    rows[index].classList.add("sd-selected");
    rows[index].setAttribute("aria-selected", "true");
    rows[index].scrollIntoView({ block: "nearest" });
    return index;
  }

  function rememberList(rows) {
    // The ticket page's n/p walk the list the agent came from (this tab only).
    try {
      sessionStorage.setItem(LIST_KEY, JSON.stringify(rows.map(function (row) {
        return row.getAttribute("data-href");
      })));
    } catch (e) { /* storage disabled: n/p simply do nothing */ }
  }

  function neighbour(step) {
    var urls;
    try { urls = JSON.parse(sessionStorage.getItem(LIST_KEY) || "[]"); } catch (e) { urls = []; }
    var here = urls.indexOf(window.location.pathname);
    if (here === -1) { return null; }
    return urls[here + step] || null;
  }

  /* ---- the ticket page: Main / Internal tabs and the reply box ---- */

  function setupTabs() {
    var tablist = document.querySelector("[data-sd-tablist]");
    if (!tablist) { return null; }
    var tabs = Array.prototype.slice.call(tablist.querySelectorAll("[data-sd-tab]"));
    function show(name) {
      tabs.forEach(function (tab) {
        var active = tab.getAttribute("data-sd-tab") === name;
        tab.setAttribute("aria-selected", active ? "true" : "false");
        tab.tabIndex = active ? 0 : -1;
        var pane = document.querySelector('[data-sd-pane="' + tab.getAttribute("data-sd-tab") + '"]');
        if (pane) { pane.hidden = !active; }
      });
    }
    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () { show(tab.getAttribute("data-sd-tab")); });
    });
    var selected = tablist.querySelector('[aria-selected="true"]') || tabs[0];
    tablist.hidden = false;
    document.documentElement.classList.add("sd-js-tabs");
    show(selected.getAttribute("data-sd-tab"));
    return show;
  }

  // A ticket opens at its newest message with the composer under it in view, as chat
  // does; a link to one message (#m123) keeps its own place.
  function openAtNewest() {
    if (window.location.hash) { return; }
    var pane = document.querySelector("[data-sd-pane]:not([hidden])");
    if (!pane) { return; }
    var shown = pane.querySelectorAll(".sd-thread .sd-message");
    var composer = pane.querySelector("[data-sd-composer]");
    var target = composer || shown[shown.length - 1];
    if (target && shown.length) { target.scrollIntoView({ block: "end" }); }
  }

  function setupComposers(showPane) {
    var composers = {};
    Array.prototype.forEach.call(document.querySelectorAll("[data-sd-composer]"), function (box) {
      var body = box.querySelector("[data-sd-reply-body]");
      if (!body || !body.form) { return; }
      var form = body.form;
      composers[box.getAttribute("data-sd-composer")] = body;
      body.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
        }
      });
    });
    return {
      /* Show the pane and focus its composer: `r` always means a reply, `i` a note. */
      open: function (pane) {
        var body = composers[pane];
        if (!body) { return false; }
        if (showPane) { showPane(pane); }
        body.focus();
        return true;
      }
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var rows = listRows();
    var current = -1;
    if (rows.length) {
      rememberList(rows);
      rows.forEach(function (row, index) {
        row.addEventListener("click", function (event) {
          // Links navigate themselves; the bulk checkbox and its cell only select.
          if (event.target.closest("a, input, label, [data-sd-bulk-cell]")) { return; }
          current = select(rows, index);
          window.location.href = row.getAttribute("data-href");
        });
      });
    }
    var showPane = setupTabs();
    var composers = setupComposers(showPane);
    openAtNewest();

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      var target = null;
      switch (event.key) {
        case "j":
          if (rows.length) { current = select(rows, current + 1); event.preventDefault(); }
          break;
        case "k":
          if (rows.length) { current = select(rows, current - 1); event.preventDefault(); }
          break;
        case "Enter":
          if (current >= 0 && rows[current]) { window.location.href = rows[current].getAttribute("data-href"); }
          break;
        case "/":
          target = document.querySelector("[data-sd-search]");
          if (target) { event.preventDefault(); target.focus(); target.select(); }
          break;
        case "r":
          if (composers.open("main")) { event.preventDefault(); }
          break;
        case "i":
          if (composers.open("internal")) { event.preventDefault(); }
          break;
        case "?":
          target = document.getElementById("sd-shortcuts");
          if (target && target.showModal) {
            event.preventDefault();
            if (target.open) { target.close(); } else { target.showModal(); }
          }
          break;
        case "n":
        case "p":
          if (rows.length) {
            // On the list, n/p turn the page.
            target = document.querySelector('.sd-pagination a[rel="' + (event.key === "n" ? "next" : "prev") + '"]');
            if (target) { window.location.href = target.href; }
          } else {
            target = neighbour(event.key === "n" ? 1 : -1);
            if (target) { window.location.href = target; }
          }
          break;
        default:
          return;
      }
    });

    /* ---- the list's filters: a link without its empty fields ---- */
    // A GET form sends every field, chosen or not ("?q=&status=&priority=..."); the
    // empty ones are left out, so the address says only what is applied.
    var filters = document.querySelector(".sd-desk-filters");
    if (filters) {
      filters.addEventListener("submit", function () {
        Array.prototype.forEach.call(filters.elements, function (field) {
          if (field.name && field.value === "" && !field.disabled) { field.disabled = true; }
        });
        // A page restored from the back/forward cache gets its fields back.
        window.addEventListener("pageshow", function () {
          Array.prototype.forEach.call(filters.elements, function (field) { field.disabled = false; });
        }, { once: true });
      });
    }
  });
})();
