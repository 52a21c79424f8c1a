/* flask-supportdesk: small progressive enhancements shared by the portal and the desk.
   - <time datetime> elements are shown in the viewer's time zone (exact UTC on hover).
   - window.SupportDesk.csrfToken() gives the token for fetch() calls (X-CSRFToken).
   - window.SupportDesk.gettext / ngettext translate the scripts' messages, from the
     catalogue base.html serves as JSON (<meta name="supportdesk-i18n">) in the page's
     language. */
(function () {
  "use strict";

  var catalogue = null;

  // The page's language (<html lang>, the desk's active locale), for Intl and plurals.
  function language() {
    return document.documentElement.lang || undefined;
  }

  function messages() {
    if (catalogue === null) {
      var el = document.querySelector('meta[name="supportdesk-i18n"]');
      try {
        catalogue = el ? JSON.parse(el.getAttribute("content")) : {};
      } catch (e) {
        catalogue = {};
      }
    }
    return catalogue;
  }

  // %(name)s placeholders, as in the Python messages. The result is text: callers put
  // it in textContent, never innerHTML.
  function fill(text, vars) {
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
    });
  }

  function gettext(msgid, vars) {
    var text = messages()[msgid];
    return fill(typeof text === "string" ? text : msgid, vars || {});
  }

  // Plural forms arrive keyed by Intl.PluralRules categories ("one", "other", ...).
  function ngettext(singular, plural, num, vars) {
    var forms = messages()[singular];
    var text;
    if (forms && typeof forms === "object") {
      text = forms[new Intl.PluralRules(language()).select(num)] || forms.other;
    }
    return fill(text || (num === 1 ? singular : plural), Object.assign({num: num}, vars));
  }

  function localise(root) {
    var fmt = new Intl.DateTimeFormat(language(), {
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
    var number = new Intl.NumberFormat(language());
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
          ? ngettext("%(num)s character too many (at most %(limit)s)",
                     "%(num)s characters too many (at most %(limit)s)",
                     over, {num: number.format(over), limit: number.format(limit)})
          : ngettext("%(used)s / %(num)s character", "%(used)s / %(num)s characters",
                     limit, {used: number.format(used), num: number.format(limit)});
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
    gettext: gettext,
    ngettext: ngettext,
    localise: localise,
    counters: counters
  });

  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    counters(document);
    document.dispatchEvent(new CustomEvent("supportdesk:ready"));
  });
})();
