/* flask-supportdesk: live ticket pages and counters (docs/live_chat.rst, the protocol).
   A page opts in with one element, <div data-sd-live="portal|desk|list" ...>:
   - portal and desk ticket pages join the ticket, sync from the newest message on the
     page at every (re)connect, and show new and edited messages without a reload (the
     body is the message JSON's "html", sanitised by the server; every other text goes
     in through textContent). A change of the ticket itself shows a "reload" bar: the
     page's forms (status, fields, reply with status) would otherwise post stale values.
   - desk ticket pages also show colleagues on the same ticket: "Ann is viewing",
     "Ann is replying…" (viewing and typing events of the staff room).
   - the desk list fetches its counters again (HTML, counted by the server's policy)
     when an inbox or ticket event arrives, at most once a second.
   Without JavaScript, without the socket.io client or without a connection, the pages
   stay what they are: links and forms. */
(function () {
  "use strict";

  var NAMESPACE = "/supportdesk";
  var TYPING_EVERY = 3000;   // ms between two typing events of this page
  var TYPING_SHOWN = 6000;   // ms a colleague's "is replying…" stays without news
  var COUNTERS_DEBOUNCE = 1000;
  var WATCHED = ["status", "priority", "level", "assignee", "subject", "department"];

  function gettext(msgid, vars) {
    var sd = window.SupportDesk;
    return sd && sd.gettext ? sd.gettext(msgid, vars) : msgid;
  }

  function newestId() {
    var newest = 0;
    document.querySelectorAll("article.sd-message[id^='m']").forEach(function (el) {
      var id = parseInt(el.id.slice(1), 10);
      if (id > newest) newest = id;
    });
    return newest;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A bar where the page's live element is, shown once (role=status: screen readers
  // hear it).
  function bar(root, anchor, key, text, action) {
    var found = root.querySelector("[data-sd-live-bar='" + key + "']");
    if (found) return found;
    var box = el("div", "sd-flash sd-flash-info sd-live-bar");
    box.setAttribute("role", "status");
    box.setAttribute("data-sd-live-bar", key);
    box.appendChild(el("p", "", text));
    if (action) box.appendChild(action);
    anchor.parentNode.insertBefore(box, anchor);
    return box;
  }

  function badge(header, className, text) {
    header.appendChild(document.createTextNode(" "));
    header.appendChild(el("span", "sd-badge " + className, text));
  }

  // The fields of a ticket a page shows that changed between two of its versions.
  function changes(before, after) {
    return WATCHED.filter(function (name) {
      return JSON.stringify(before[name]) !== JSON.stringify(after[name]);
    });
  }

  // The customer's words for each status (the same messages as models.py's).
  function customerStatus(status) {
    return {
      open: gettext("Open"),
      pending_admin: gettext("Awaiting support"),
      pending_customer: gettext("Awaiting your reply"),
      resolved: gettext("Resolved"),
      closed: gettext("Closed")
    }[status];
  }

  function TicketPage(root, config) {
    this.root = root;
    this.config = config;
    this.view = config.getAttribute("data-sd-live");
    this.ticket = config.getAttribute("data-ticket");
    this.userId = config.getAttribute("data-user") || "";
    this.lastId = newestId();
    this.known = null;        // the ticket as the page shows it (from the first join)
    this.viewers = {};        // user id -> name
    this.typing = {};         // name -> timer
    this.sentTyping = 0;
    this.socket = null;
    this.presenceLine = config.parentNode.querySelector("[data-sd-live-presence]");
  }

  TicketPage.prototype.start = function (socket) {
    var self = this;
    this.socket = socket;
    socket.on("connect", function () { self.join(); });
    socket.on("message", function (data) {
      if (data && data.ticket === self.ticket) self.show(data.message);
    });
    socket.on("ticket", function (data) {
      if (data && data.ticket && data.ticket.number === self.ticket) self.changed(data.ticket);
    });
    if (this.view === "desk") {
      socket.on("viewing", function (data) { self.onViewing(data); });
      socket.on("typing", function (data) { self.onTyping(data); });
      root_each(this.root, "[data-sd-reply-body]", function (box) {
        box.addEventListener("input", function () { self.sendTyping(box); });
      });
    }
  };

  function root_each(root, selector, fn) {
    root.querySelectorAll(selector).forEach(fn);
  }

  // Join, then catch up from the newest message this page has (after every reconnect:
  // Socket.IO delivers at most once, the database has everything).
  TicketPage.prototype.join = function () {
    var self = this;
    this.viewers = {};
    this.renderPresence();
    this.socket.emit("join", {ticket: this.ticket}, function (ack) {
      if (!ack || !ack.ok) return;
      if (self.known === null) self.known = ack.ticket;
      else self.changed(ack.ticket);
      self.sync();
    });
  };

  TicketPage.prototype.sync = function () {
    var self = this;
    this.socket.emit("sync", {ticket: this.ticket, after: this.lastId}, function (ack) {
      if (!ack || !ack.ok) return;
      ack.messages.forEach(function (message) { self.show(message); });
      if (ack.more) self.sync();
    });
  };

  TicketPage.prototype.thread = function (message) {
    if (this.view === "desk") {
      var pane = message.channel === "internal" ? "internal" : "main";
      return this.root.querySelector("[data-sd-pane='" + pane + "'] .sd-thread");
    }
    return this.root.querySelector(".sd-thread");
  };

  TicketPage.prototype.show = function (message) {
    if (!message || typeof message.id !== "number") return;
    // The server sends the portal public messages only; a page never shows more.
    if (this.view !== "desk" && message.channel !== "public") return;
    var existing = document.getElementById("m" + message.id);
    if (existing) {
      var body = existing.querySelector(".sd-body");
      if (body) body.innerHTML = message.html; // sanitised by the server (markup.py)
      existing.classList.add("sd-live-edited");
      return;
    }
    var thread = this.thread(message);
    if (!thread) return;
    var empty = thread.querySelector(".sd-empty");
    if (empty) empty.remove();
    var staff = message.author && message.author.staff;
    var article = el("article", "sd-message " + (staff ? "sd-from-staff" : "sd-from-customer"));
    if (message.channel === "internal") article.classList.add("sd-internal");
    article.id = "m" + message.id;
    article.classList.add("sd-live-new");
    var header = el("header");
    header.appendChild(el("strong", "", (message.author && message.author.name) || ""));
    // The same badges as the server's (blueprints/_thread_html.py).
    // Their words come from the page (data-staff-label, data-note-label): the desk's
    // "Internal note" has no business in the portal's script catalogue.
    var staffLabel = this.config.getAttribute("data-staff-label");
    var noteLabel = this.config.getAttribute("data-note-label");
    if (staff && staffLabel) badge(header, "sd-staff", staffLabel);
    if (message.channel === "internal" && noteLabel) badge(header, "sd-internal-badge", noteLabel);
    var when = el("span", "sd-muted");
    var time = el("time", "", message.created_at || "");
    if (message.created_at) time.setAttribute("datetime", message.created_at);
    when.appendChild(time);
    header.appendChild(document.createTextNode(" "));
    header.appendChild(when);
    article.appendChild(header);
    var body = el("div", "sd-body");
    body.innerHTML = message.html; // sanitised by the server (markup.py)
    article.appendChild(body);
    if (message.attachments && message.attachments.length) {
      var list = el("ul", "sd-attachments");
      message.attachments.forEach(function (file) {
        var item = el("li");
        var link = el("a", "", file.filename);
        link.href = file.url;
        link.setAttribute("download", "");
        item.appendChild(link);
        list.appendChild(item);
      });
      article.appendChild(list);
    }
    thread.appendChild(article);
    if (window.SupportDesk && window.SupportDesk.localise) window.SupportDesk.localise(article);
    if (message.id > this.lastId) this.lastId = message.id;
  };

  // A changed ticket: on the portal, a new status (short of closed, which changes the
  // forms) is shown in place; anything else asks for a reload, since the page's forms
  // would post what it showed before.
  TicketPage.prototype.changed = function (ticket) {
    if (this.known === null) return;
    var changed = changes(this.known, ticket);
    if (!changed.length) return;
    var badge = this.root.querySelector("[data-sd-live-status] .sd-badge");
    if (this.view === "portal" && badge && changed.length === 1 && changed[0] === "status" &&
        this.known.status !== "closed" && ticket.status !== "closed" && customerStatus(ticket.status)) {
      badge.className = "sd-badge sd-status-" + ticket.status;
      badge.textContent = customerStatus(ticket.status);
      this.known = ticket;
      return;
    }
    var reload = el("button", "sd-button", gettext("Reload"));
    reload.type = "button";
    reload.addEventListener("click", function () { window.location.reload(); });
    bar(this.root, this.config, "changed", gettext("This ticket changed. Reload to see the changes."), reload);
  };

  TicketPage.prototype.onViewing = function (data) {
    if (!data || data.ticket !== this.ticket || !data.user) return;
    var id = String(data.user.id);
    if (id === this.userId) return; // this user's other tab
    if (data.state === "viewing") {
      var isNew = !Object.prototype.hasOwnProperty.call(this.viewers, id);
      this.viewers[id] = data.user.name;
      // Tell the newcomer this page is here too: joining again announces it. A page
      // answers each colleague once, so two pages settle after one exchange.
      if (isNew) this.socket.emit("join", {ticket: this.ticket});
    } else {
      delete this.viewers[id];
    }
    this.renderPresence();
  };

  TicketPage.prototype.onTyping = function (data) {
    var self = this;
    if (!data || data.ticket !== this.ticket || !data.user || !data.user.staff) return;
    var name = data.user.name;
    if (this.typing[name]) clearTimeout(this.typing[name].timer);
    this.typing[name] = {
      channel: data.channel,
      timer: setTimeout(function () { delete self.typing[name]; self.renderPresence(); }, TYPING_SHOWN)
    };
    this.renderPresence();
  };

  TicketPage.prototype.sendTyping = function (box) {
    var now = Date.now();
    if (!this.socket || !this.socket.connected || now - this.sentTyping < TYPING_EVERY) return;
    this.sentTyping = now;
    var composer = box.closest("[data-sd-composer]");
    var channel = composer && composer.getAttribute("data-sd-composer") === "internal" ? "internal" : "public";
    this.socket.emit("typing", {ticket: this.ticket, channel: channel});
  };

  TicketPage.prototype.renderPresence = function () {
    var line = this.presenceLine;
    if (!line) return;
    var self = this;
    var parts = [];
    var typingNames = Object.keys(this.typing);
    typingNames.forEach(function (name) {
      parts.push(self.typing[name].channel === "internal"
        ? gettext("%(name)s is writing a note…", {name: name})
        : gettext("%(name)s is replying…", {name: name}));
    });
    Object.keys(this.viewers).forEach(function (id) {
      var name = self.viewers[id];
      if (typingNames.indexOf(name) === -1) parts.push(gettext("%(name)s is viewing", {name: name}));
    });
    line.textContent = parts.join(" · ");
    line.hidden = parts.length === 0;
  };

  function CountersPage(root, config) {
    this.root = root;
    this.url = config.getAttribute("data-counters");
    this.timer = null;
  }

  CountersPage.prototype.start = function (socket) {
    var self = this;
    var later = function () {
      if (self.timer) return;
      self.timer = setTimeout(function () { self.timer = null; self.refresh(); }, COUNTERS_DEBOUNCE);
    };
    socket.on("inbox", later);
    socket.on("ticket", later);
    socket.on("connect", function () { if (self.started) later(); self.started = true; });
  };

  CountersPage.prototype.refresh = function () {
    var self = this;
    var status = new URLSearchParams(window.location.search).get("status");
    var url = this.url + (status ? "?status=" + encodeURIComponent(status) : "");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".sd-counters");
        var old = self.root.querySelector(".sd-counters");
        if (fresh && old) {
          old.replaceWith(document.importNode(fresh, true));
        }
      })
      .catch(function () { /* the counters stay as they are until the next event */ });
  };

  function start() {
    var config = document.querySelector("[data-sd-live]");
    if (!config || typeof window.io !== "function") return;
    var root = config.closest(".sd") || document.body;
    var page = config.getAttribute("data-sd-live") === "list"
      ? new CountersPage(root, config)
      : new TicketPage(root, config);
    var socket = window.io(NAMESPACE, {withCredentials: true});
    page.start(socket);
    root.setAttribute("data-sd-live-started", "");
    window.SupportDesk = Object.assign(window.SupportDesk || {}, {live: {socket: socket, page: page}});
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
