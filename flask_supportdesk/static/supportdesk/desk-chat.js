/* flask-supportdesk staff desk: the live part (docs/live_chat.rst, the /supportdesk
   Socket.IO namespace). Progressive enhancement: without it every page still works with
   links and forms. Loaded with `defer` after the vendored socket.io client; no inline
   scripts (the desk's Content-Security-Policy forbids them).

   On every desk page: the Online / Away switch (presence), the colleagues' presence and
   the chat icon's unread count. On the chat inbox: the list is fetched again over HTTP
   on an `inbox` hint (the server decides what it shows), the open conversation joins
   its ticket, appends `message` events (the message's `html` is sanitised by the
   server; everything else is set as text), catches up with `sync` after a reconnect and
   sends with `send` (falling back to the form's POST when the socket is down or the
   message has files or a status). */
(function () {
  "use strict";

  var HEARTBEAT_MS = 30000;
  var LIST_DELAY_MS = 250;

  function randomId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function toBottom(box) { box.scrollTop = box.scrollHeight; }

  /* ---- one message, as blueprints/_thread_html.py writes it ---- */

  function renderMessage(message) {
    var article = document.createElement("article");
    var staff = message.author && message.author.staff;
    article.className = "sd-message" + (message.channel === "internal" ? " sd-internal" : "") +
      (staff ? " sd-from-staff" : " sd-from-customer");
    article.id = "m" + message.id;
    var header = document.createElement("header");
    var author = document.createElement("strong");
    author.textContent = (message.author && message.author.name) || "";
    var when = document.createElement("span");
    when.className = "sd-muted";
    var time = document.createElement("time");
    time.setAttribute("datetime", message.created_at || "");
    when.appendChild(time);
    header.appendChild(author);
    header.appendChild(document.createTextNode(" "));
    header.appendChild(when);
    var body = document.createElement("div");
    body.className = "sd-body";
    body.innerHTML = message.html;  // sanitised server-side (flask_supportdesk.markup)
    article.appendChild(header);
    article.appendChild(body);
    if (message.attachments && message.attachments.length) {
      var list = document.createElement("ul");
      list.className = "sd-attachments";
      message.attachments.forEach(function (file) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = file.url;
        link.setAttribute("download", "");
        link.textContent = file.filename;
        item.appendChild(link);
        list.appendChild(item);
      });
      article.appendChild(list);
    }
    return article;
  }

  /* ---- the open conversation ---- */

  function Conversation(root, socket) {
    this.root = root;
    this.socket = socket;
    this.number = root.getAttribute("data-sd-chat");
    this.state = root.querySelector("[data-sd-live-state]");
    this.lastId = 0;
    this.typingTimer = null;
    var self = this;
    Array.prototype.forEach.call(root.querySelectorAll(".sd-message[id^='m']"), function (el) {
      self.lastId = Math.max(self.lastId, parseInt(el.id.slice(1), 10) || 0);
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-sd-chat-thread]"), toBottom);
    Array.prototype.forEach.call(root.querySelectorAll("[data-sd-composer] form"), function (form) {
      self.enhance(form);
    });
  }

  Conversation.prototype.say = function (text) {
    if (this.state) { this.state.textContent = text || ""; }
  };

  Conversation.prototype.join = function () {
    var self = this;
    this.socket.emit("join", { ticket: this.number }, function (ack) {
      if (!ack || !ack.ok) { return; }
      self.socket.emit("sync", { ticket: self.number, after: self.lastId }, function (synced) {
        if (synced && synced.ok) { synced.messages.forEach(function (m) { self.add(m); }); }
      });
    });
  };

  Conversation.prototype.add = function (message) {
    var channel = message.channel === "internal" ? "internal" : "public";
    var box = this.root.querySelector('[data-sd-chat-thread="' + channel + '"]');
    if (!box) { return; }
    var thread = box.querySelector(".sd-thread");
    if (!thread) { return; }
    var stick = nearBottom(box);
    var fresh = renderMessage(message);
    var existing = document.getElementById("m" + message.id);
    if (existing) {
      existing.parentNode.replaceChild(fresh, existing);  // an edit
    } else {
      var empty = thread.querySelector(".sd-empty");
      if (empty) { empty.parentNode.removeChild(empty); }
      thread.appendChild(fresh);
    }
    if (window.SupportDesk && window.SupportDesk.localise) { window.SupportDesk.localise(fresh); }
    this.lastId = Math.max(this.lastId, message.id);
    if (stick || (message.author && message.author.staff)) { toBottom(box); }
    if (!(message.author && message.author.staff)) {
      this.socket.emit("read", { ticket: this.number, message: message.id }, function () {});
    }
  };

  Conversation.prototype.enhance = function (form) {
    var self = this;
    var body = form.querySelector("textarea[name='body']");
    var channel = form.querySelector("input[name='channel']");
    var clientId = form.querySelector("input[name='client_id']");
    var status = form.querySelector("select[name='status']");
    var files = form.querySelector("input[type='file']");
    var lastTyping = 0;
    if (!body || !channel) { return; }
    body.addEventListener("input", function () {
      var now = Date.now();
      if (body.value && self.socket.connected && now - lastTyping > 2000) {
        lastTyping = now;
        self.socket.emit("typing", { ticket: self.number, channel: channel.value }, function () {});
      }
    });
    form.addEventListener("submit", function (event) {
      var text = body.value;
      var plain = !(files && files.files && files.files.length) && !(status && status.value);
      if (!self.socket.connected || !plain || !text.trim()) { return; }  // the form's POST
      event.preventDefault();
      var data = { ticket: self.number, body: text, channel: channel.value };
      if (clientId && clientId.value) { data.client_id = clientId.value; }
      var button = form.querySelector("button[type='submit']");
      if (button) { button.disabled = true; }
      self.socket.timeout(10000).emit("send", data, function (err, ack) {
        if (button) { button.disabled = false; }
        if (err) { form.submit(); return; }  // no answer: the POST (same client_id, once)
        if (!ack || !ack.ok) {
          self.say((ack && ack.error && ack.error.message) || "");
          return;
        }
        body.value = "";
        body.dispatchEvent(new Event("input"));  // the character counter follows
        if (clientId) { clientId.value = randomId(); }
        self.say("");
        self.add(ack.message);
      });
    });
  };

  /* The chat changed (status, assignee, ...): its status badge follows. */
  Conversation.prototype.changed = function (ticket) {
    var holder = this.root.querySelector("[data-sd-chat-status]");
    if (!holder || !ticket || ticket.number !== this.number) { return; }
    // The Fields form must not send an old status back when it is saved.
    var field = this.root.querySelector(".sd-desk-fields select[name='status']");
    if (field && field.value !== ticket.status) { field.value = ticket.status; }
    var labels = {};
    try { labels = JSON.parse(holder.getAttribute("data-sd-labels") || "{}"); } catch (e) { labels = {}; }
    var badge = holder.querySelector(".sd-badge");
    if (!badge || !labels[ticket.status]) { return; }
    badge.className = "sd-badge sd-status-" + ticket.status;
    badge.textContent = labels[ticket.status];
  };

  Conversation.prototype.typing = function (data) {
    if (!data || data.ticket !== this.number || !data.user || data.user.staff) { return; }
    var template = this.root.getAttribute("data-sd-typing-text") || "%(name)s …";
    this.say(template.replace("%(name)s", data.user.name || ""));
    var self = this;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(function () { self.say(""); }, 4000);
  };

  /* ---- the list column and the chat icon ---- */

  function setUnread(total) {
    var badge = document.querySelector("[data-sd-chat-unread]");
    if (!badge) { return; }
    var count = parseInt(total, 10) || 0;
    badge.firstChild.nodeValue = String(count);
    badge.hidden = count === 0;
  }

  function listRefresher(inbox) {
    var timer = null;
    var url = inbox ? inbox.getAttribute("data-sd-list-url") : null;
    var nav = document.querySelector("[data-sd-chat-nav]");
    if (!url && nav) { url = nav.getAttribute("href") + "/list"; }
    if (!url) { return function () {}; }
    function load() {
      var params = new URLSearchParams();
      if (inbox) {
        params.set("tab", inbox.getAttribute("data-sd-chat-tab-current") || "all");
        var current = inbox.getAttribute("data-sd-chat");
        if (current) { params.set("current", current); }
      }
      fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var holder = document.createElement("div");
          holder.innerHTML = html;  // our own server's fragment, escaped by Jinja
          var totals = holder.querySelector("[data-sd-unread-total]");
          if (totals) { setUnread(totals.getAttribute("data-sd-unread-total")); }
          var column = inbox && inbox.querySelector("[data-sd-chat-list]");
          if (column) {
            column.innerHTML = html;
            // Times read relative like the rest of the page ("now", not the full date).
            if (window.SupportDesk && window.SupportDesk.localise) { window.SupportDesk.localise(column); }
          }
        })
        .catch(function () {});
    }
    return function () {
      clearTimeout(timer);
      timer = setTimeout(load, LIST_DELAY_MS);
    };
  }

  /* ---- presence ---- */

  function setupPresence(socket) {
    var button = document.querySelector("[data-sd-presence]");
    function show(status) {
      if (!button) { return; }
      button.setAttribute("data-sd-presence", status);
      var label = button.querySelector("[data-sd-presence-label]");
      if (label) { label.textContent = button.getAttribute("data-sd-label-" + status) || status; }
      button.setAttribute("aria-pressed", status === "away" ? "true" : "false");
    }
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var next = button.getAttribute("data-sd-presence") === "away" ? "online" : "away";
        socket.emit("presence", { status: next }, function (ack) {
          if (ack && ack.ok) { show(ack.status === "away" ? "away" : "online"); }
        });
      });
    }
    setInterval(function () {
      if (socket.connected) { socket.emit("presence", {}, function () {}); }
    }, HEARTBEAT_MS);
    socket.on("presence", function (data) {
      if (!data || !data.user) { return; }
      var item = document.querySelector('[data-sd-colleague="' + String(data.user.id).replace(/"/g, "") + '"]');
      if (!item) { return; }
      item.setAttribute("data-sd-status", data.status);
      var label = item.querySelector("[data-sd-status-label]");
      var colleagues = document.querySelector("[data-sd-colleagues]");
      if (label && colleagues) {
        label.textContent = colleagues.getAttribute("data-sd-label-" + data.status) || data.status;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof window.io !== "function") { return; }
    var socket = window.io("/supportdesk", { transports: ["websocket"] });
    var inbox = document.querySelector("[data-sd-chat-inbox]");
    var conversation = inbox && inbox.getAttribute("data-sd-chat") ? new Conversation(inbox, socket) : null;
    var refresh = listRefresher(inbox);
    setupPresence(socket);
    socket.on("connect", function () {
      if (conversation) { conversation.join(); conversation.say(""); }
    });
    socket.on("disconnect", function () {
      if (conversation && inbox) { conversation.say(inbox.getAttribute("data-sd-offline-text") || ""); }
    });
    socket.on("message", function (data) {
      if (conversation && data && data.ticket === conversation.number && data.message) {
        conversation.add(data.message);
      }
    });
    socket.on("typing", function (data) { if (conversation) { conversation.typing(data); } });
    socket.on("ticket", function (data) {
      if (conversation && data) { conversation.changed(data.ticket); }
    });
    socket.on("inbox", function () { refresh(); });
    window.supportdeskDeskSocket = socket;  // for the host's own scripts and the tests
  });
}());
