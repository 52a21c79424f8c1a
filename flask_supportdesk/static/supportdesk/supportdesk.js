/* flask-supportdesk: small progressive enhancements shared by the portal and the desk.
   - <time datetime> elements are shown in the viewer's time zone (exact UTC on hover).
   - window.SupportDesk.csrfToken() gives the token for fetch() calls (X-CSRFToken). */
(function () {
  "use strict";

  function localise(root) {
    var fmt = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
    });
    root.querySelectorAll(".sd time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.textContent = fmt.format(when);
      }
    });
  }

  // A live count under every message box with data-sd-counter="<limit>". The server
  // refuses a longer message with a clear error; nothing is ever cut off silently.
  function counters(root) {
    var number = new Intl.NumberFormat();
    root.querySelectorAll("textarea[data-sd-counter]").forEach(function (box) {
      var limit = parseInt(box.getAttribute("data-sd-counter"), 10);
      if (!limit || box.sdCounter) { return; }
      var line = document.createElement("p");
      line.className = "sd-char-count sd-muted";
      line.setAttribute("aria-live", "polite");
      line.id = (box.id || "sd-box") + "-count";
      box.setAttribute("aria-describedby",
        ((box.getAttribute("aria-describedby") || "") + " " + line.id).trim());
      box.insertAdjacentElement("afterend", line);
      box.sdCounter = line;
      function update() {
        // Characters as the server counts them (code points, not UTF-16 units).
        var used = Array.from(box.value.replace(/\r\n/g, "\n").trim()).length;
        var over = used - limit;
        line.classList.toggle("sd-over", over > 0);
        line.textContent = over > 0
          ? number.format(over) + (over === 1 ? " character" : " characters") +
            " too many (at most " + number.format(limit) + ")"
          : number.format(used) + " / " + number.format(limit) + " characters";
      }
      box.addEventListener("input", update);
      update();
    });
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  window.SupportDesk = Object.assign(window.SupportDesk || {}, {
    version: "0.1",
    csrfToken: csrfToken,
    localise: localise,
    counters: counters
  });

  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    counters(document);
    document.dispatchEvent(new CustomEvent("supportdesk:ready"));
  });
})();
