/* flask-supportdesk storefront chat widget (docs/widget.rst).

   A floating Chat button and a chat panel in a Shadow DOM (the host page's CSS cannot
   restyle it), speaking the desk's live protocol (docs/live_chat.rst) on the Socket.IO
   namespace /supportdesk. Loaded with `defer` either by {{ supportdesk_widget() }}
   (configuration inline, as a JSON data block) or alone, as
   <script src=".../widget.js" data-supportdesk="/support" defer>, which then fetches
   /support/widget/config.json. No inline code, so a strict Content-Security-Policy
   (script-src 'self'; style-src 'self') is enough.

   - A visitor fills in the pre-chat form; POST /chats answers a conversation token,
     kept in localStorage with the ticket number, renewed every 30 minutes and on load,
     so the conversation survives page changes and reloads.
   - A logged-in customer (the session cookie) continues their newest open chat or
     starts one with only a message; their connection is opened on every page, so a
     conversation that staff start pops up wherever they are.
   - After every (re)connect: join, then sync from the last message id (the server
     delivers at most once). Messages are deduplicated and replaced by id.
   - Message bodies come from the server's sanitised `html`; every other text (names,
     file names, errors) is set with textContent, never as HTML. */
(function () {
  "use strict";

  if (window.SupportDeskWidget) { return; }
  window.SupportDeskWidget = { version: 1 };

  var CONFIG_ID = "supportdesk-widget-config";
  var STORE_KEY = "supportdesk.widget.v1";
  var OPEN_KEY = "supportdesk.widget.open";
  var TYPING_EVERY = 3000;   // ms between two `typing` events we send
  var TYPING_SHOWN = 5000;   // ms "Support is typing…" stays without news
  var ACK_TIMEOUT = 8000;    // ms to wait for an acknowledgement before sending again
  var SEND_TRIES = 3;
  var RENEW_EVERY = 30 * 60 * 1000;
  var script = document.currentScript;

  var cfg = null;
  var catalogue = {};

  /* ---- translations (the catalogue comes with the configuration) ---- */

  function fill(text, vars) {
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
    });
  }

  function gettext(msgid, vars) {
    var text = catalogue[msgid];
    return fill(typeof text === "string" ? text : msgid, vars || {});
  }

  function ngettext(singular, plural, num, vars) {
    var forms = catalogue[singular];
    var text;
    if (forms && typeof forms === "object") {
      try {
        text = forms[new Intl.PluralRules(cfg.locale).select(num)] || forms.other;
      } catch (e) { text = forms.other; }
    }
    return fill(text || (num === 1 ? singular : plural), Object.assign({ num: num }, vars));
  }

  /* ---- small helpers ---- */

  // An element with attributes and children; strings become text nodes, never HTML.
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) { return; }
      if (name === "text") { el.textContent = value; }
      else if (name.slice(0, 2) === "on") { el.addEventListener(name.slice(2), value); }
      else { el.setAttribute(name, value === true ? "" : String(value)); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return el;
  }

  // localStorage, or sessionStorage (this tab only) with `tab`. Even reading either may
  // throw (storage disabled), so both are looked up inside the try.
  function readStore(key, tab) {
    try { return JSON.parse((tab ? sessionStorage : localStorage).getItem(key) || "null"); } catch (e) { return null; }
  }

  function writeStore(key, value, tab) {
    try {
      var storage = tab ? sessionStorage : localStorage;
      if (value === null) { storage.removeItem(key); } else { storage.setItem(key, JSON.stringify(value)); }
    } catch (e) { /* storage disabled: the conversation lasts as long as the page */ }
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function formatSize(bytes) {
    var units = ["B", "KB", "MB", "GB"];
    var i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return new Intl.NumberFormat(cfg.locale, { maximumFractionDigits: i ? 1 : 0 }).format(bytes) + " " + units[i];
  }

  function formatTime(iso) {
    var when = new Date(iso);
    if (isNaN(when)) { return ""; }
    try {
      return new Intl.DateTimeFormat(cfg.locale, { hour: "2-digit", minute: "2-digit" }).format(when);
    } catch (e) { return when.toLocaleTimeString(); }
  }

  function loadConfig() {
    var inline = document.getElementById(CONFIG_ID);
    if (inline) {
      try { return Promise.resolve(JSON.parse(inline.textContent)); } catch (e) { return Promise.reject(e); }
    }
    var base = (script && script.getAttribute("data-supportdesk")) || "/support";
    return fetch(base.replace(/\/$/, "") + "/widget/config.json", {
      credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (r) { return r.json(); });
  }

  function loadSocketIo() {
    if (window.io) { return Promise.resolve(window.io); }
    return new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.src = cfg.socketio_client;
      tag.onload = function () { resolve(window.io); };
      tag.onerror = reject;
      document.head.appendChild(tag);
    });
  }

  /* ---- the widget ---- */

  function Widget() {
    var saved = cfg.customer ? null : readStore(STORE_KEY);
    this.token = saved && saved.token || null;
    this.ticket = saved && saved.ticket || null;
    this.readUpTo = saved && saved.readUpTo || 0;
    this.status = null;
    this.ended = false;
    this.online = cfg.availability ? cfg.availability.online : null;
    this.replyHours = cfg.availability ? cfg.availability.reply_within_hours : null;
    this.messages = {};        // id -> element
    this.pending = {};         // client_id -> element
    this.lastId = 0;
    this.myLastId = 0;
    this.staffRead = 0;
    this.unread = 0;
    this.lastTypingSent = 0;
    this.lastReadSent = 0;
    this.socket = null;
    this.isOpen = false;
    this.sound = !!readStore("supportdesk.widget.sound");
    this.build();
  }

  Widget.prototype.build = function () {
    var self = this;
    var host = document.createElement("supportdesk-widget");
    // Inline !important declarations outrank any rule of the host page's stylesheets.
    ["display:block", "position:static", "visibility:visible", "opacity:1"].forEach(function (rule) {
      var parts = rule.split(":");
      host.style.setProperty(parts[0], parts[1], "important");
    });
    var root = host.attachShadow({ mode: "open" });
    var wrapper = h("div", { class: "sdw", lang: cfg.locale });
    wrapper.style.visibility = "hidden"; // until the stylesheet is in
    var css = h("link", { rel: "stylesheet", href: cfg.css });
    css.addEventListener("load", function () { wrapper.style.visibility = ""; });
    css.addEventListener("error", function () { wrapper.style.visibility = ""; });
    root.appendChild(css);
    root.appendChild(wrapper);
    this.root = root;

    this.badge = h("span", { class: "sdw-badge", "aria-hidden": "true", hidden: true });
    this.launcherLabel = h("span", { class: "sdw-launcher-label", text: gettext("Chat") });
    this.launcher = h("button", {
      type: "button", class: "sdw-launcher", "aria-expanded": "false", "aria-controls": "sdw-panel",
      onclick: function () { self.toggle(); }
    }, [bubbleIcon(), this.launcherLabel, this.badge]);

    this.title = h("h2", { id: "sdw-title", class: "sdw-title", text: gettext("Chat with us") });
    this.statusLine = h("p", { class: "sdw-status", id: "sdw-status" });
    this.soundButton = h("button", {
      type: "button", class: "sdw-icon-button sdw-sound", "aria-pressed": String(this.sound),
      title: gettext("Sound for new messages"),
      onclick: function () { self.toggleSound(); }
    }, [h("span", { class: "sdw-vh", text: gettext("Sound for new messages") }), soundIcon()]);
    this.closeButton = h("button", {
      type: "button", class: "sdw-icon-button sdw-close", title: gettext("Close chat"),
      onclick: function () { self.close(); }
    }, [h("span", { class: "sdw-vh", text: gettext("Close chat") }), closeIcon()]);

    this.prechat = this.buildPrechat();
    this.thread = h("div", {
      class: "sdw-thread", role: "log", "aria-live": "polite", "aria-relevant": "additions",
      "aria-label": gettext("Conversation"), tabindex: "0"
    });
    this.typingLine = h("p", { class: "sdw-typing", "aria-live": "polite", hidden: true });
    this.endedBox = h("div", { class: "sdw-ended", hidden: true }, [
      h("p", { text: gettext("This conversation has ended.") }),
      h("button", {
        type: "button", class: "sdw-button", text: gettext("Start a new conversation"),
        onclick: function () { self.startOver(); }
      })
    ]);
    this.errorLine = h("p", { class: "sdw-error", role: "alert", hidden: true });
    this.composer = this.buildComposer();

    this.panel = h("section", {
      id: "sdw-panel", class: "sdw-panel", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "sdw-title", "aria-describedby": "sdw-status", hidden: true,
      onkeydown: function (event) { self.onKey(event); }
    }, [
      h("header", { class: "sdw-header" }, [
        h("div", { class: "sdw-heading" }, [this.title, this.statusLine]),
        this.soundButton, this.closeButton
      ]),
      this.scroller = h("div", { class: "sdw-body" }, [
        this.prechat, this.thread, this.typingLine, this.endedBox
      ]),
      this.errorLine,
      this.composer
    ]);
    // The panel joins the page when it first opens: until then the page holds one
    // button and nothing else (no second "E-mail" field beside a page's own form).
    this.wrapper = wrapper;
    wrapper.appendChild(this.launcher);
    document.body.appendChild(host);
    this.render();
  };

  Widget.prototype.buildPrechat = function () {
    var self = this;
    function field(name, label, type, required, autocomplete) {
      var id = "sdw-" + name;
      var input = h(type === "textarea" ? "textarea" : "input", {
        id: id, name: name, type: type === "textarea" ? null : type, required: required,
        autocomplete: autocomplete, rows: type === "textarea" ? "3" : null,
        maxlength: name === "body" ? cfg.limits.max_message_length : (name === "phone" ? 40 : (name === "email" ? 254 : 100)),
        "aria-describedby": id + "-error"
      });
      return h("div", { class: "sdw-field" }, [
        h("label", { for: id, text: label + (required ? "" : " " + gettext("(optional)")) }),
        input,
        h("p", { class: "sdw-field-error", id: id + "-error", hidden: true })
      ]);
    }
    this.prechatNote = h("p", { class: "sdw-note" });
    this.prechatSubmit = h("button", { type: "submit", class: "sdw-button sdw-primary", text: gettext("Start chat") });
    var form = h("form", {
      class: "sdw-prechat", novalidate: true,
      onsubmit: function (event) { event.preventDefault(); self.submitPrechat(form); }
    }, [
      this.prechatNote,
      h("div", { class: "sdw-row" }, [
        field("first_name", gettext("First name"), "text", true, "given-name"),
        field("last_name", gettext("Last name"), "text", true, "family-name")
      ]),
      field("email", gettext("E-mail"), "email", true, "email"),
      field("phone", gettext("Phone"), "tel", false, "tel"),
      field("body", gettext("Message"), "textarea", true, null),
      this.prechatSubmit
    ]);
    return form;
  };

  Widget.prototype.buildComposer = function () {
    var self = this;
    this.box = h("textarea", {
      id: "sdw-message", class: "sdw-input", rows: "2", maxlength: cfg.limits.max_message_length,
      placeholder: gettext("Write a message…"),
      oninput: function () { self.typed(); },
      onkeydown: function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          self.submitMessage();
        }
      }
    });
    this.fileInput = h("input", {
      type: "file", id: "sdw-files", class: "sdw-vh", multiple: true, tabindex: "-1",
      accept: cfg.limits.allowed_extensions.map(function (ext) { return "." + ext; }).join(","),
      onchange: function () { self.filesChosen(); }
    });
    this.attachButton = h("button", {
      type: "button", class: "sdw-icon-button sdw-attach", title: gettext("Attach files"),
      onclick: function () { self.fileInput.click(); }
    }, [h("span", { class: "sdw-vh", text: gettext("Attach files") }), clipIcon()]);
    this.chosen = h("ul", { class: "sdw-chosen", "aria-label": gettext("Files to send") });
    this.sendButton = h("button", { type: "submit", class: "sdw-button sdw-primary sdw-send", text: gettext("Send") });
    return h("form", {
      class: "sdw-composer",
      onsubmit: function (event) { event.preventDefault(); self.submitMessage(); }
    }, [
      h("label", { for: "sdw-message", class: "sdw-vh", text: gettext("Message") }),
      this.chosen,
      h("div", { class: "sdw-compose-row" }, [this.attachButton, this.fileInput, this.box, this.sendButton])
    ]);
  };

  /* ---- what is shown ---- */

  Widget.prototype.render = function () {
    var guestForm = !cfg.customer && !this.ticket;
    this.prechat.hidden = guestForm ? false : true;
    this.thread.hidden = guestForm;
    this.endedBox.hidden = !this.ended;
    this.composer.hidden = guestForm || this.ended;
    // Files go with a message of a conversation that exists (POST /chats takes none).
    this.attachButton.hidden = !this.ticket;
    var status;
    if (this.online === false) {
      var hours = this.replyHours || 24;
      status = ngettext("We usually reply within %(num)s hour.", "We usually reply within %(num)s hours.", hours);
      this.prechatNote.textContent = gettext("Nobody is online right now. Leave a message and we will answer by e-mail.");
      this.prechatSubmit.textContent = gettext("Leave a message");
    } else {
      status = this.online ? gettext("We are online.") : "";
      this.prechatNote.textContent = gettext("Tell us who you are and how we can help.");
      this.prechatSubmit.textContent = gettext("Start chat");
    }
    if (cfg.customer && !this.ticket && !this.ended) {
      this.box.placeholder = this.online === false ? gettext("Leave us a message…") : gettext("Write a message…");
    }
    this.statusLine.textContent = status;
    this.statusLine.hidden = !status;
    this.renderBadge();
    this.renderSeen();
  };

  Widget.prototype.renderBadge = function () {
    var count = this.isOpen ? 0 : this.unread;
    this.badge.hidden = count === 0;
    this.badge.textContent = count > 9 ? "9+" : String(count);
    this.launcher.setAttribute("aria-label", count
      ? ngettext("Chat, %(num)s new message", "Chat, %(num)s new messages", count)
      : gettext("Chat"));
  };

  Widget.prototype.renderSeen = function () {
    var old = this.thread.querySelector(".sdw-seen");
    if (old) { old.remove(); }
    if (!this.myLastId || this.staffRead < this.myLastId) { return; }
    var mine = this.messages[this.myLastId];
    if (mine) { mine.appendChild(h("p", { class: "sdw-seen", text: gettext("Seen") })); }
  };

  Widget.prototype.showError = function (text) {
    this.errorLine.textContent = text || "";
    this.errorLine.hidden = !text;
  };

  Widget.prototype.errorText = function (error) {
    error = error || {};
    var text = error.message || gettext("Something went wrong. Please try again.");
    var wait = parseInt(error.retry_after, 10);
    if (error.code === "rate_limited" && wait > 0 && text.indexOf(String(wait)) === -1) {
      text += " " + ngettext("Try again in %(num)s second.", "Try again in %(num)s seconds.", wait);
    }
    return text;
  };

  /* ---- opening and closing, keyboard ---- */

  Widget.prototype.toggle = function () { if (this.isOpen) { this.close(); } else { this.open(true); } };

  Widget.prototype.open = function (focus) {
    var self = this;
    this.isOpen = true;
    if (!this.panel.isConnected) { this.wrapper.insertBefore(this.panel, this.launcher); }
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.classList.add("sdw-open");
    writeStore(OPEN_KEY, true, true);
    this.unread = 0;
    this.render();
    this.refreshAvailability();
    if (focus) {
      var first = !this.prechat.hidden ? this.prechat.querySelector("input") : this.box;
      setTimeout(function () { (first && !first.closest("[hidden]") ? first : self.closeButton).focus(); }, 0);
    }
    this.scrollDown();
    this.markRead();
  };

  Widget.prototype.close = function () {
    this.isOpen = false;
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.classList.remove("sdw-open");
    writeStore(OPEN_KEY, null, true);
    this.renderBadge();
    this.launcher.focus();
  };

  Widget.prototype.focusables = function () {
    return Array.prototype.filter.call(
      this.panel.querySelectorAll("button, input, textarea, select, a[href], [tabindex='0']"),
      function (el) { return !el.disabled && !el.closest("[hidden]") && el.tabIndex !== -1 && el.getClientRects().length; }
    );
  };

  Widget.prototype.onKey = function (event) {
    if (event.key === "Escape") { event.preventDefault(); this.close(); return; }
    if (event.key !== "Tab") { return; }
    // Focus stays in the open panel (a dialog): Tab from the last goes to the first.
    var items = this.focusables();
    if (!items.length) { return; }
    var active = this.root.activeElement;
    var index = items.indexOf(active);
    if (event.shiftKey && index <= 0) { event.preventDefault(); items[items.length - 1].focus(); }
    else if (!event.shiftKey && index === items.length - 1) { event.preventDefault(); items[0].focus(); }
  };

  Widget.prototype.toggleSound = function () {
    this.sound = !this.sound;
    this.soundButton.setAttribute("aria-pressed", String(this.sound));
    writeStore("supportdesk.widget.sound", this.sound || null);
    if (this.sound) { this.beep(); }
  };

  // A short tone made on the spot (WebAudio): no sound file to fetch.
  Widget.prototype.beep = function () {
    if (!this.sound) { return; }
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      this.audio = this.audio || new Context();
      var osc = this.audio.createOscillator();
      var gain = this.audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, this.audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, this.audio.currentTime + 0.25);
      osc.connect(gain).connect(this.audio.destination);
      osc.start();
      osc.stop(this.audio.currentTime + 0.25);
    } catch (e) { /* no audio: the badge and the live region still tell */ }
  };

  /* ---- HTTP ---- */

  // A CSRF token for the session: the page's, or (a visitor's page carries none, so
  // that looking at the shop sets no cookie) a fresh one from the configuration.
  Widget.prototype.csrf = function (fresh) {
    if (cfg.csrf_token && !fresh) { return Promise.resolve(cfg.csrf_token); }
    return fetch(cfg.config_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { cfg.csrf_token = data.csrf_token || cfg.csrf_token; return cfg.csrf_token; });
  };

  Widget.prototype.api = function (method, path, body, retried) {
    var self = this;
    if (method !== "GET" && (!cfg.csrf_token || retried === "fresh")) {
      return this.csrf(true).then(function () { return self.api(method, path, body, true); }, function () {
        throw { code: "offline", message: gettext("Could not reach the server. Check your connection and try again.") };
      });
    }
    var headers = { Accept: "application/json" };
    if (this.token && !cfg.customer) { headers.Authorization = "Bearer " + this.token; }
    if (method !== "GET") { headers["X-CSRFToken"] = cfg.csrf_token; }
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body instanceof FormData) { init.body = body; }
    else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(cfg.api + path, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        // An answer cut off (the visitor left the page meanwhile) is no answer: never
        // take it for an empty one, which would lose the conversation's token.
        if (response.ok && data !== null) { return data; }
        var error = (data && data.error) || { code: "error", message: gettext("Something went wrong. Please try again.") };
        if (!error.retry_after && response.headers.get("Retry-After")) { error.retry_after = response.headers.get("Retry-After"); }
        if (error.code === "csrf_failed" && !retried) {
          // The page's CSRF token expired (it lives an hour): a fresh one, once more.
          return self.api(method, path, body, "fresh");
        }
        error.status = response.status;
        throw error;
      });
    }, function () {
      throw { code: "offline", message: gettext("Could not reach the server. Check your connection and try again.") };
    });
  };

  Widget.prototype.refreshAvailability = function () {
    var self = this;
    this.api("GET", "/chats/availability").then(function (data) {
      self.online = !!data.online;
      self.replyHours = data.reply_within_hours;
      self.render();
    }, function () { /* keep what we knew */ });
  };

  /* ---- starting, continuing and ending a conversation ---- */

  Widget.prototype.remember = function () {
    if (cfg.customer) { return; }
    writeStore(STORE_KEY, this.ticket ? { token: this.token, ticket: this.ticket, readUpTo: this.readUpTo } : null);
  };

  Widget.prototype.forget = function (why) {
    if (this.socket && this.ticket && this.socket.connected) { this.socket.emit("leave", { ticket: this.ticket }); }
    this.ticket = null;
    this.status = null;
    this.ended = false;
    if (!cfg.customer) {
      this.token = null;
      if (this.socket) { this.socket.disconnect(); this.socket = null; }
    }
    this.messages = {};
    this.pending = {};
    this.lastId = this.myLastId = this.staffRead = 0;
    this.readUpTo = 0;
    this.unread = 0;
    this.thread.textContent = "";
    this.remember();
    this.showError(why || "");
    this.render();
  };

  Widget.prototype.startOver = function () {
    this.forget();
    var first = !this.prechat.hidden ? this.prechat.querySelector("input") : this.box;
    if (first) { first.focus(); }
  };

  Widget.prototype.clearFieldErrors = function (form) {
    Array.prototype.forEach.call(form.querySelectorAll(".sdw-field-error"), function (p) { p.hidden = true; p.textContent = ""; });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (el) { el.removeAttribute("aria-invalid"); });
  };

  Widget.prototype.fieldErrors = function (form, fields) {
    var shown = false;
    Object.keys(fields || {}).forEach(function (name) {
      var input = form.querySelector("[name='" + name.replace(/[^\w]/g, "") + "']");
      var line = input && form.querySelector("#" + input.id + "-error");
      if (!line) { return; }
      line.textContent = fields[name];
      line.hidden = false;
      input.setAttribute("aria-invalid", "true");
      if (!shown) { input.focus(); shown = true; }
    });
    return shown;
  };

  Widget.prototype.submitPrechat = function (form) {
    var self = this;
    this.clearFieldErrors(form);
    this.showError("");
    var data = { client_id: uuid() };
    var missing = {};
    ["first_name", "last_name", "email", "phone", "body"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) { data[name] = value; }
      else if (form.elements[name].required) { missing[name] = gettext("Required."); }
    });
    if (Object.keys(missing).length) { this.fieldErrors(form, missing); return; }
    this.prechatSubmit.disabled = true;
    this.token = null;
    this.api("POST", "/chats", data).then(function (opened) {
      self.token = opened.token;
      self.ticket = opened.ticket.number;
      self.applyTicket(opened.ticket);
      self.remember();
      form.reset();
      self.render();
      self.connect();
      self.box.focus();
    }, function (error) {
      if (!self.fieldErrors(form, error.fields)) { self.showError(self.errorText(error)); }
    }).then(function () { self.prechatSubmit.disabled = false; });
  };

  // The newest open chat of a logged-in customer, to continue it on this page.
  Widget.prototype.findCustomerChat = function () {
    var self = this;
    return this.api("GET", "/tickets?source=chat&sort=-updated&page_size=10").then(function (page) {
      var open = (page.items || []).filter(function (item) {
        return item.status !== "resolved" && item.status !== "closed";
      })[0];
      if (open && !self.ticket) { self.ticket = open.number; self.applyTicket(open); self.render(); }
    }, function () { /* no list: the customer can still start a chat */ });
  };

  Widget.prototype.applyTicket = function (ticket) {
    if (!ticket || ticket.number !== this.ticket) { return; }
    this.status = ticket.status;
    var ended = ticket.status === "resolved" || ticket.status === "closed";
    if (ended !== this.ended) {
      this.ended = ended;
      this.render();
      if (ended) { this.typingLine.hidden = true; }
    }
  };

  /* ---- the live connection ---- */

  Widget.prototype.connect = function () {
    var self = this;
    if (this.socket || (!cfg.customer && !this.token)) { return; }
    var options = {
      path: cfg.socket.path,
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelayMax: 10000
    };
    if (!cfg.customer) {
      // A function, so each reconnect sends the token renewed in the meantime.
      options.auth = function (callback) { callback({ token: self.token }); };
    }
    var socket = window.io(window.location.origin + cfg.socket.namespace, options);
    this.socket = socket;
    socket.on("connect", function () { self.joined(); });
    socket.on("disconnect", function (reason) {
      // The server closed a visitor's connection (a restart, a worker going away):
      // Socket.IO does not reconnect by itself then, the widget does. A customer's is
      // closed when they log out, and stays closed.
      if (reason === "io server disconnect" && !cfg.customer && self.token && self.socket === socket) {
        setTimeout(function () { if (self.socket === socket && !socket.connected) { socket.connect(); } }, 1000);
      }
    });
    socket.on("connect_error", function (error) {
      var data = error && error.data;
      var spent = { unauthorized: true, token_expired: true, not_found: true };
      if (data && spent[data.code] && !cfg.customer) {
        // The server refused the token (expired, or its chat is gone): start afresh.
        // Any other refusal (rate_limited) is passing: the client tries again.
        self.forget(data.message);
      }
    });
    socket.on("message", function (data) { self.onMessage(data); });
    socket.on("ticket", function (data) { self.onTicket(data); });
    socket.on("typing", function (data) { self.onTyping(data); });
    socket.on("read", function (data) { self.onRead(data); });
    socket.on("presence", function (data) {
      if (data && typeof data.online === "boolean") { self.online = data.online; self.render(); }
    });
  };

  Widget.prototype.call = function (event, data) {
    var socket = this.socket;
    return new Promise(function (resolve) {
      socket.timeout(ACK_TIMEOUT).emit(event, data, function (err, ack) {
        resolve(err ? { ok: false, error: { code: "timeout" } } : (ack || { ok: false }));
      });
    });
  };

  // After every (re)connect: rooms are per connection, and what was missed comes by sync.
  Widget.prototype.joined = function () {
    var self = this;
    var number = this.ticket;
    if (!number) { return; }
    this.call("join", { ticket: number }).then(function (ack) {
      if (number !== self.ticket) { return; }
      if (!ack.ok) {
        var code = ack.error && ack.error.code;
        if (code === "not_found") { self.forget(ack.error.message); }
        else if (code === "timeout" || code === "rate_limited") {
          // A slow or busy server: try again while still connected (reconnects rejoin anyway).
          setTimeout(function () { if (self.socket && self.socket.connected) { self.joined(); } }, 2000);
        }
        return;
      }
      self.applyTicket(ack.ticket);
      if (ack.read && ack.read.staff) { self.staffRead = Math.max(self.staffRead, ack.read.staff); }
      // What this side read before (another page, another device): not counted as new.
      if (ack.read && ack.read.customer) { self.readUpTo = Math.max(self.readUpTo, ack.read.customer); }
      self.sync();
    });
  };

  Widget.prototype.sync = function () {
    var self = this;
    var number = this.ticket;
    this.thread.setAttribute("aria-busy", "true"); // history is not read out message by message
    this.call("sync", { ticket: number, after: this.lastId }).then(function (ack) {
      self.thread.removeAttribute("aria-busy");
      if (number !== self.ticket) { return; }
      if (!ack.ok) {
        if (ack.error && (ack.error.code === "timeout" || ack.error.code === "rate_limited")) {
          setTimeout(function () { if (self.socket && self.socket.connected) { self.sync(); } }, 2000);
        }
        return;
      }
      (ack.messages || []).forEach(function (message) { self.addMessage(message, true); });
      self.applyTicket(ack.ticket);
      self.renderSeen();
      self.renderBadge();
      self.scrollDown();
      self.markRead();
      if (ack.more) { self.sync(); }
    });
  };

  Widget.prototype.onMessage = function (data) {
    if (!data || data.ticket !== this.ticket || !data.message) { return; }
    var fresh = !this.messages[data.message.id];
    this.addMessage(data.message, false);
    if (fresh && data.message.author && data.message.author.staff) {
      this.typingLine.hidden = true;
      this.beep();
    }
    this.renderSeen();
    this.renderBadge();
    this.scrollDown();
    this.markRead();
  };

  Widget.prototype.onTicket = function (data) {
    var ticket = data && data.ticket;
    if (!ticket) { return; }
    if (data.started_by_staff && cfg.customer && ticket.number !== this.ticket) {
      // Staff opened a conversation with this customer: show it, wherever they are.
      this.forget();
      this.ticket = ticket.number;
      this.applyTicket(ticket);
      this.render();
      this.joined();
      if (!this.isOpen) { this.open(false); }
      return;
    }
    this.applyTicket(ticket);
  };

  Widget.prototype.onTyping = function (data) {
    var self = this;
    if (!data || data.ticket !== this.ticket || !data.user || !data.user.staff || this.ended) { return; }
    this.typingLine.textContent = gettext("Support is typing…");
    this.typingLine.hidden = false;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(function () { self.typingLine.hidden = true; }, TYPING_SHOWN);
  };

  Widget.prototype.onRead = function (data) {
    if (!data || data.ticket !== this.ticket || !data.reader || !data.reader.staff) { return; }
    this.staffRead = Math.max(this.staffRead, data.message || 0);
    this.renderSeen();
  };

  Widget.prototype.typed = function () {
    var now = Date.now();
    if (!this.ticket || !this.socket || !this.socket.connected || now - this.lastTypingSent < TYPING_EVERY) { return; }
    this.lastTypingSent = now;
    this.socket.emit("typing", { ticket: this.ticket });
  };

  // A read receipt for the newest message, while the panel is open and the page visible.
  Widget.prototype.markRead = function () {
    if (!this.isOpen || document.visibilityState !== "visible" || !this.ticket) { return; }
    if (this.lastId > this.readUpTo) { this.readUpTo = this.lastId; this.remember(); }
    this.unread = 0;
    this.renderBadge();
    if (this.lastId > this.lastReadSent && this.socket && this.socket.connected) {
      this.lastReadSent = this.lastId;
      this.socket.emit("read", { ticket: this.ticket, message: this.lastId });
    }
  };

  /* ---- messages ---- */

  Widget.prototype.addMessage = function (message, fromSync) {
    var staff = !!(message.author && message.author.staff);
    var existing = this.messages[message.id];
    var el = this.messageElement(message, staff);
    if (existing) {
      existing.replaceWith(el);          // edited: the same id, a new text
    } else {
      // Our own message, answered by the server before its acknowledgement arrived.
      var pendingId = Object.keys(this.pending).filter(function (id) {
        return !staff && this.pending[id].sdBody === message.body;
      }, this)[0];
      if (pendingId) { this.pending[pendingId].replaceWith(el); delete this.pending[pendingId]; }
      else { this.thread.appendChild(el); }
      // One name and time over a run of messages from the same person in the same minute.
      var before = el.previousElementSibling;
      if (before && before.sdGroup === el.sdGroup) { el.classList.add("sdw-cont"); }
      if (staff && message.id > this.readUpTo && !this.isOpen) { this.unread += 1; }
    }
    this.messages[message.id] = el;
    this.lastId = Math.max(this.lastId, message.id);
    if (!staff) { this.myLastId = Math.max(this.myLastId, message.id); }
    void fromSync;
  };

  Widget.prototype.messageElement = function (message, staff) {
    var self = this;
    var body = h("div", { class: "sdw-text" });
    // The server's sanitised rendering of the body (docs/security.rst); nothing else
    // is ever set as HTML.
    body.innerHTML = message.html || "";
    var files = (message.attachments || []).map(function (file) {
      var link = h("a", { href: file.url, class: "sdw-file", download: file.filename, text: file.filename },
        [" ", h("span", { class: "sdw-muted", text: "(" + formatSize(file.size) + ")" })]);
      if (!cfg.customer) {
        // A visitor's download needs its token, which a plain link cannot carry.
        link.addEventListener("click", function (event) { event.preventDefault(); self.download(file); });
      }
      return h("li", {}, [link]);
    });
    var meta = h("p", { class: "sdw-meta" }, [
      staff ? h("span", { class: "sdw-author", text: (message.author && message.author.name) || gettext("Support") }) : h("span", { class: "sdw-vh", text: gettext("You") }),
      " ",
      h("time", { datetime: message.created_at, text: formatTime(message.created_at) }),
      message.edited_at ? h("span", { class: "sdw-muted", text: " · " + gettext("edited") }) : null
    ]);
    var el = h("article", { class: "sdw-message " + (staff ? "sdw-theirs" : "sdw-mine"), "data-id": message.id }, [
      meta, body, files.length ? h("ul", { class: "sdw-files" }, files) : null
    ]);
    el.sdGroup = [staff, message.author && message.author.name, formatTime(message.created_at)].join("|");
    return el;
  };

  Widget.prototype.download = function (file) {
    var self = this;
    fetch(file.url, { headers: { Authorization: "Bearer " + this.token }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(); } return r.blob(); })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        var a = h("a", { href: url, download: file.filename });
        self.root.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      }, function () { self.showError(gettext("The file could not be downloaded.")); });
  };

  Widget.prototype.scrollDown = function () { this.scroller.scrollTop = this.scroller.scrollHeight; };

  Widget.prototype.pendingElement = function (clientId, body) {
    var el = h("article", { class: "sdw-message sdw-mine sdw-pending", "aria-busy": "true" }, [
      h("div", { class: "sdw-text" }, [h("p", { text: body })]),
      h("p", { class: "sdw-meta sdw-muted", text: gettext("Sending…") })
    ]);
    el.sdBody = body;
    this.pending[clientId] = el;
    this.thread.appendChild(el);
    this.scrollDown();
    return el;
  };

  Widget.prototype.dropPending = function (clientId) {
    if (this.pending[clientId]) { this.pending[clientId].remove(); delete this.pending[clientId]; }
  };

  Widget.prototype.filesChosen = function () {
    var self = this;
    var limits = cfg.limits;
    var files = Array.prototype.slice.call(this.fileInput.files || []);
    this.chosen.textContent = "";
    this.showError("");
    var problem = null;
    if (files.length > limits.max_attachments) {
      problem = ngettext("You can send at most %(num)s file at once.", "You can send at most %(num)s files at once.", limits.max_attachments);
    }
    files.forEach(function (file) {
      var ext = (file.name.split(".").pop() || "").toLowerCase();
      if (file.name.indexOf(".") === -1 || limits.allowed_extensions.indexOf(ext) === -1) {
        problem = problem || gettext("%(name)s: this type of file is not allowed.", { name: file.name });
      } else if (file.size > limits.max_attachment_size) {
        problem = problem || gettext("%(name)s is too large (at most %(size)s).", { name: file.name, size: formatSize(limits.max_attachment_size) });
      }
      self.chosen.appendChild(h("li", { text: file.name + " (" + formatSize(file.size) + ")" }));
    });
    if (problem) { this.showError(problem); this.fileInput.value = ""; this.chosen.textContent = ""; }
  };

  Widget.prototype.submitMessage = function () {
    var self = this;
    var body = this.box.value.trim();
    var files = Array.prototype.slice.call(this.fileInput.files || []);
    this.showError("");
    if (!body) {
      if (files.length) { this.showError(gettext("Write a short message to go with your files.")); }
      return;
    }
    if (body.length > cfg.limits.max_message_length) {
      this.showError(ngettext("A message can have at most %(num)s character.", "A message can have at most %(num)s characters.", cfg.limits.max_message_length));
      return;
    }
    var clientId = uuid();
    this.box.value = "";
    if (!this.ticket) { this.startCustomerChat(body, clientId); return; }
    this.pendingElement(clientId, body);
    var sent;
    if (files.length) {
      var form = new FormData();
      form.append("body", body);
      form.append("client_id", clientId);
      files.forEach(function (file) { form.append("files", file, file.name); });
      sent = this.api("POST", "/tickets/" + encodeURIComponent(this.ticket) + "/messages", form)
        .then(function (message) {
          // Sent: the files are cleared; refused, they stay chosen with the text.
          self.fileInput.value = "";
          self.chosen.textContent = "";
          return { ok: true, message: message };
        }, function (error) { return { ok: false, error: error }; });
    } else {
      sent = this.sendLive(body, clientId, 1);
    }
    sent.then(function (ack) {
      if (ack.ok) {
        var message = ack.message;
        if (message && message.id) { self.dropPending(clientId); self.addMessage(message, false); self.renderSeen(); self.scrollDown(); }
        return;
      }
      self.dropPending(clientId);
      if (!self.box.value) { self.box.value = body; }
      self.showError(self.errorText(ack.error));
      if (ack.error && (ack.error.code === "conflict")) { self.applyTicket({ number: self.ticket, status: "closed" }); }
    });
  };

  // Over the socket, sent again with the same client_id when no acknowledgement comes
  // (the server stores it once); over HTTP when the connection is down.
  Widget.prototype.sendLive = function (body, clientId, attempt) {
    var self = this;
    if (!this.socket || !this.socket.connected) {
      return this.api("POST", "/tickets/" + encodeURIComponent(this.ticket) + "/messages", { body: body, client_id: clientId })
        .then(function (message) { return { ok: true, message: message }; }, function (error) { return { ok: false, error: error }; });
    }
    return this.call("send", { ticket: this.ticket, body: body, client_id: clientId }).then(function (ack) {
      if (!ack.ok && ack.error && ack.error.code === "timeout") {
        if (attempt < SEND_TRIES) { return self.sendLive(body, clientId, attempt + 1); }
        return { ok: false, error: { message: gettext("Could not reach the server. Check your connection and try again.") } };
      }
      return ack;
    });
  };

  Widget.prototype.startCustomerChat = function (body, clientId) {
    var self = this;
    this.sendButton.disabled = true;
    this.api("POST", "/chats", { body: body, client_id: clientId }).then(function (opened) {
      self.ticket = opened.ticket.number;
      self.applyTicket(opened.ticket);
      self.render();
      if (self.socket && self.socket.connected) { self.joined(); } else { self.connect(); }
    }, function (error) {
      self.box.value = body;
      self.showError(self.errorText(error));
    }).then(function () { self.sendButton.disabled = false; });
  };

  Widget.prototype.renewToken = function () {
    var self = this;
    if (cfg.customer || !this.token) { return Promise.resolve(); }
    return this.api("POST", "/chats/token").then(function (data) {
      if (typeof data.token !== "string" || !data.token) { return; }
      self.token = data.token;
      self.remember();
    }, function (error) {
      if (error.status === 401 || error.status === 404 || error.status === 410) { self.forget(error.message); }
    });
  };

  Widget.prototype.start = function () {
    var self = this;
    if (readStore(OPEN_KEY, true)) { this.open(false); }
    document.addEventListener("visibilitychange", function () { self.markRead(); });
    setInterval(function () { self.renewToken(); }, Math.min(RENEW_EVERY, cfg.limits.token_max_age * 250));
    if (cfg.customer) {
      this.findCustomerChat().then(function () { self.connect(); });
    } else if (this.token) {
      this.renewToken().then(function () { self.connect(); });
    }
  };

  /* ---- icons (inline SVG built with the DOM; hidden from screen readers) ---- */

  function icon(paths) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "sdw-svg");
    paths.forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }
  function bubbleIcon() { return icon(["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"]); }
  function closeIcon() { return icon(["M18 6 6 18", "M6 6l12 12"]); }
  function clipIcon() { return icon(["M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"]); }
  function soundIcon() { return icon(["M11 5 6 9H2v6h4l5 4V5z", "M15.54 8.46a5 5 0 0 1 0 7.07", "M19.07 4.93a10 10 0 0 1 0 14.14"]); }

  function boot() {
    loadConfig().then(function (config) {
      if (!config || config.version !== 1 || !config.enabled) { return; }
      cfg = config;
      catalogue = config.messages || {};
      return loadSocketIo().then(function () {
        var widget = new Widget();
        window.SupportDeskWidget.open = function () { widget.open(true); };
        widget.start();
      });
    }).catch(function (error) {
      if (window.console) { console.warn("supportdesk widget:", error); }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); } else { boot(); }
})();
