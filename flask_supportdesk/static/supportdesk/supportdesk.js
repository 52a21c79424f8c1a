/* flask-supportdesk: small progressive enhancements shared by the portal and the desk.
   - <time datetime> elements read relative ("3 min. ago"), refreshed every minute, with
     the exact time in the viewer's time zone on hover.
   - window.SupportDesk.csrfToken() gives the token for fetch() calls (X-CSRFToken).
   - window.SupportDesk.gettext / ngettext translate the scripts' messages, from the
     catalogue base.html serves as JSON (<meta name="supportdesk-i18n">) in the page's
     language. */
(function () {
  "use strict";

  var catalogue = null;

  // The page's language (<html lang>, the desk's active locale), for Intl and plurals.
  function language() {
    var lang = document.documentElement.lang;
    try {
      return Intl.getCanonicalLocales(lang || [])[0] || undefined;
    } catch (e) {
      return undefined; // a malformed lang attribute: the browser's own language
    }
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

  // Times read relative ("3 min. ago", "yesterday", "2 Dec") in the page's language,
  // with the exact time on hover, both in the browser's time zone. Every word comes
  // from Intl, so nothing here needs translating. The server's text (Babel's, in the host's time zone) stays
  // for readers without JavaScript.
  var formats = null;

  function getFormats() {
    if (!formats) {
      var lang = language();
      formats = {
        relative: new Intl.RelativeTimeFormat(lang, { numeric: "auto", style: "short" }),
        dayMonth: new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" }),
        dayMonthYear: new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", year: "numeric" }),
        exact: new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "long" })
      };
    }
    return formats;
  }

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  function relative(when, now) {
    var f = getFormats();
    var seconds = (when.getTime() - now.getTime()) / 1000;
    // A little clock skew between server and browser is "now", not "in 1 min".
    if (Math.abs(seconds) < 45 || (seconds > 0 && seconds < 120)) {
      return f.relative.format(0, "second");
    }
    var minutes = Math.round(seconds / 60);
    if (Math.abs(minutes) < 60) { return f.relative.format(minutes, "minute"); }
    var hours = Math.round(seconds / 3600);
    var days = Math.round((startOfDay(when) - startOfDay(now)) / 86400000);
    if (Math.abs(hours) < 6 || (days === 0 && Math.abs(hours) < 24)) {
      return f.relative.format(hours, "hour");
    }
    if (Math.abs(days) === 1) { return f.relative.format(days, "day"); }
    return (when.getFullYear() === now.getFullYear() ? f.dayMonth : f.dayMonthYear).format(when);
  }

  function localise(root) {
    var now = new Date();
    (root || document).querySelectorAll(".sd time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) { return; }
      el.textContent = relative(when, now);
      el.title = getFormats().exact.format(when);
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
    setInterval(function () { localise(document); }, 60000);
    counters(document);
    document.dispatchEvent(new CustomEvent("supportdesk:ready"));
  });
})();
