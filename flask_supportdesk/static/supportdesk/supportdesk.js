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

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  window.SupportDesk = Object.assign(window.SupportDesk || {}, {
    version: "0.1",
    csrfToken: csrfToken,
    localise: localise
  });

  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    document.dispatchEvent(new CustomEvent("supportdesk:ready"));
  });
})();
