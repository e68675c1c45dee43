/*! SupportDesk chat widget. One tag, no build step, no dependency:
 *   <script src="https://support.example.com/static/widget/widget.js" data-lang="fr" async></script>
 * data- attributes (all optional): data-server (origin; default: the script's own), data-lang (fr|en),
 * data-title, data-color (#rgb or #rrggbb), data-prechat (off|on|required), data-position (right|left),
 * data-open (true: opened on load), data-context-token (set by /contact/).
 * Protocol (public, README "Chat widget"): POST /api/widget/sessions, then WebSocket /ws/widget/?token=.
 * Message text is only ever rendered with textContent. */
(function () {
  "use strict";
  if (window.SupportDeskWidget) return;
  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll("script[src*='widget/widget.js']");
    script = all[all.length - 1];
  }
  if (!script) return;
  var ds = script.dataset || {};
  var ORIGIN;
  try { ORIGIN = new URL(ds.server || script.src, location.href).origin; } catch (e) { return; }
  var WS_ORIGIN = ORIGIN.replace(/^http/, "ws");
  var LANG = (ds.lang || document.documentElement.lang || navigator.language || "fr").slice(0, 2).toLowerCase();
  if (LANG !== "en") LANG = "fr";
  var PRECHAT = ds.prechat === "required" ? "required" : (ds.prechat === "on" || ds.prechat === "true") ? "on" : "off";
  var COLOR = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(ds.color || "") ? ds.color : "#2563eb";
  var CONTEXT = ds.contextToken || "";
  var KEY = "supportdesk.widget:" + ORIGIN;

  var STR = {
    fr: {
      title: "Une question ?", open: "Ouvrir le chat", close: "Fermer le chat", send: "Envoyer",
      input: "Votre message", placeholder: "Écrivez votre message…", human: "Parler à un conseiller",
      humanSent: "Demande transmise à un conseiller",
      welcome: "Bonjour ! Posez votre question, notre assistant vous répond tout de suite.",
      prechatIntro: "Pour mieux vous aider, présentez-vous :", name: "Nom", phone: "Téléphone", email: "E-mail",
      optional: " (facultatif)", start: "Démarrer la conversation", required: "Ce champ est obligatoire.",
      badPhone: "Numéro de téléphone invalide (6 à 20 chiffres, + autorisé).", badEmail: "Adresse e-mail invalide.",
      roles: { customer: "Vous", bot: "Assistant", agent: "Conseiller", system: "Info" },
      status: { open: "Assistant virtuel", escalated: "Un conseiller va vous répondre", closed: "Conversation terminée" },
      typing: { agent: "Un conseiller écrit…", bot: "L’assistant écrit…" },
      sources: "Sources :", sending: "envoi…", notSent: "non envoyé",
      connecting: "Connexion…", offline: "Connexion perdue, nouvelle tentative…",
      wait: function (n) { return "Trop de messages : merci de patienter " + n + " s."; },
      sorry: "Désolé : ", failed: "Le chat est indisponible pour le moment. Réessayez dans un instant.",
      csatTitle: "Comment s’est passé cet échange ?", star: function (n) { return n + " étoile" + (n > 1 ? "s" : "") + " sur 5"; },
      comment: "Un commentaire ? (facultatif)", rate: "Envoyer mon avis", thanks: "Merci pour votre avis !",
      restart: "Nouvelle conversation", unread: function (n) { return n + " nouveau(x) message(s)"; }
    },
    en: {
      title: "Questions?", open: "Open chat", close: "Close chat", send: "Send",
      input: "Your message", placeholder: "Type your message…", human: "Talk to a human",
      humanSent: "An agent has been asked to join",
      welcome: "Hello! Ask your question, our assistant answers right away.",
      prechatIntro: "To help you better, tell us who you are:", name: "Name", phone: "Phone", email: "E-mail",
      optional: " (optional)", start: "Start the conversation", required: "This field is required.",
      badPhone: "Invalid phone number (6 to 20 digits, + allowed).", badEmail: "Invalid e-mail address.",
      roles: { customer: "You", bot: "Assistant", agent: "Agent", system: "Info" },
      status: { open: "Virtual assistant", escalated: "An agent will answer you", closed: "Conversation closed" },
      typing: { agent: "An agent is typing…", bot: "The assistant is typing…" },
      sources: "Sources:", sending: "sending…", notSent: "not sent",
      connecting: "Connecting…", offline: "Connection lost, retrying…",
      wait: function (n) { return "Too many messages: please wait " + n + " s."; },
      sorry: "Sorry: ", failed: "The chat is unavailable right now. Please try again in a moment.",
      csatTitle: "How was this conversation?", star: function (n) { return n + " star" + (n > 1 ? "s" : "") + " out of 5"; },
      comment: "Any comment? (optional)", rate: "Send my rating", thanks: "Thank you for your feedback!",
      restart: "New conversation", unread: function (n) { return n + " new message(s)"; }
    }
  };
  var T = STR[LANG];
  var TITLE = ds.title || T.title;

  // --- storage
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  function save(s) {
    try { if (s) localStorage.setItem(KEY, JSON.stringify(s)); else localStorage.removeItem(KEY); } catch (e) { /* private mode */ }
  }
  var session = load();
  if (session && (typeof session.token !== "string" || (CONTEXT && session.context !== CONTEXT))) { session = null; save(null); }

  // --- DOM helpers: nodes and textContent, never markup
  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null || attrs[k] === false) continue;
      if (k === "text") el.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
      else el.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return el;
  }
  function show(el, on) { el.hidden = !on; }

  var CSS = ":host{all:initial}" +
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".sd-root{position:fixed;bottom:20px;z-index:2147483000;font-size:15px;line-height:1.4;color:#111827}" +
    ".sd-right{right:20px}.sd-left{left:20px}[hidden]{display:none!important}" +
    ".sd-bubble{width:60px;height:60px;border-radius:50%;border:0;background:var(--sd-accent);color:#fff;cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;position:relative}" +
    ".sd-bubble svg{width:28px;height:28px;fill:currentColor}" +
    ".sd-badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;border-radius:11px;background:#dc2626;color:#fff;font-size:12px;font-weight:700;display:flex;align-items:center;justify-content:center;padding:0 6px}" +
    ".sd-panel{width:370px;max-width:calc(100vw - 40px);height:560px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden;margin-bottom:12px}" +
    ".sd-head{background:var(--sd-accent);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:10px}" +
    ".sd-head h2{margin:0;font-size:16px;font-weight:700}.sd-sub{font-size:12px;opacity:.9}" +
    ".sd-x{margin-left:auto;background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;width:34px;height:34px;border-radius:6px}" +
    "button:focus-visible,a:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}" +
    ".sd-body{flex:1;overflow-y:auto;padding:12px;background:#f9fafb;display:flex;flex-direction:column;gap:8px}" +
    ".sd-log{display:flex;flex-direction:column;gap:8px}" +
    ".sd-msg{max-width:85%;padding:8px 11px;border-radius:12px;background:#fff;border:1px solid #e5e7eb;align-self:flex-start;word-wrap:break-word}" +
    ".sd-msg[data-role=customer]{align-self:flex-end;background:var(--sd-accent);color:#fff;border-color:transparent}" +
    ".sd-msg[data-role=system]{align-self:center;background:transparent;border:0;color:#6b7280;font-size:13px;text-align:center}" +
    ".sd-msg[data-role=agent]{border-color:var(--sd-accent)}" +
    ".sd-who{font-size:11px;font-weight:700;opacity:.75;margin-bottom:2px}.sd-text{white-space:pre-wrap}" +
    ".sd-meta{font-size:11px;opacity:.7;margin-top:3px}" +
    ".sd-pending{opacity:.65}.sd-failed{outline:2px solid #dc2626}" +
    ".sd-src{margin:6px 0 0;padding:6px 0 0 16px;border-top:1px solid #e5e7eb;font-size:13px}" +
    ".sd-src a{color:var(--sd-accent)}.sd-note{color:#6b7280;font-size:13px}" +
    ".sd-typing{font-size:13px;color:#6b7280;font-style:italic;padding:0 14px 4px}" +
    ".sd-alert{margin:0 12px 6px;padding:7px 10px;border-radius:8px;background:#fef3c7;color:#78350f;font-size:13px}" +
    ".sd-foot{border-top:1px solid #e5e7eb;padding:8px;display:flex;flex-direction:column;gap:6px;background:#fff}" +
    ".sd-row{display:flex;gap:6px;align-items:flex-end}" +
    "textarea,input{font:inherit;border:1px solid #d1d5db;border-radius:8px;padding:8px;width:100%;color:#111827;background:#fff}" +
    ".sd-row textarea{resize:none;height:44px;max-height:120px}" +
    ".sd-btn{background:var(--sd-accent);color:#fff;border:0;border-radius:8px;padding:9px 14px;font:inherit;font-weight:600;cursor:pointer}" +
    ".sd-btn:disabled{opacity:.5;cursor:not-allowed}" +
    ".sd-link{background:none;border:0;color:var(--sd-accent);font:inherit;font-size:13px;cursor:pointer;text-decoration:underline;align-self:flex-start;padding:2px}" +
    ".sd-form{display:flex;flex-direction:column;gap:10px;background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:12px}" +
    ".sd-form label{font-size:13px;font-weight:600;display:flex;flex-direction:column;gap:3px}" +
    ".sd-err{color:#b91c1c;font-size:12px;font-weight:400}[aria-invalid=true]{border-color:#dc2626}" +
    ".sd-stars{display:flex;gap:4px}" +
    ".sd-star{background:none;border:0;font-size:30px;line-height:1;cursor:pointer;color:#d1d5db;padding:2px}" +
    ".sd-star[aria-pressed=true]{color:#f59e0b}" +
    ".sd-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}";

  // --- build the UI in a shadow root
  var host = h("div", { id: "supportdesk-widget" });
  host.style.setProperty("--sd-accent", COLOR);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.appendChild(h("style", { text: CSS }));

  var svgNS = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(svgNS, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS(svgNS, "path");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z");
  icon.appendChild(path);

  var badge = h("span", { "class": "sd-badge", "aria-hidden": "true", hidden: true });
  var bubble = h("button", { type: "button", "class": "sd-bubble", "data-testid": "widget-bubble", "aria-label": T.open, "aria-expanded": "false", onclick: toggle }, [icon, badge]);
  var subtitle = h("div", { "class": "sd-sub", "data-testid": "widget-status", "aria-live": "polite" });
  var closeBtn = h("button", { type: "button", "class": "sd-x", "data-testid": "widget-close", "aria-label": T.close, title: T.close, onclick: function () { setOpen(false); }, text: "×" });
  var log = h("div", { "class": "sd-log", role: "log", "aria-live": "polite", "aria-label": TITLE });
  // The customer's messages wait here until the server echoes them, then move into the log in the server's order.
  var pendingBox = h("div", { "class": "sd-log" });
  var welcome = h("p", { "class": "sd-note", text: T.welcome });
  var formBox = h("div");
  var csatBox = h("div");
  var body = h("div", { "class": "sd-body" }, [welcome, formBox, log, pendingBox, csatBox]);
  var typingEl = h("div", { "class": "sd-typing", "data-testid": "widget-typing", "aria-live": "polite", hidden: true });
  var alertEl = h("div", { "class": "sd-alert", "data-testid": "widget-error", role: "alert", hidden: true });
  var input = h("textarea", { "data-testid": "widget-input", "aria-label": T.input, placeholder: T.placeholder, rows: "1", maxlength: "4000" });
  var sendBtn = h("button", { type: "submit", "class": "sd-btn", "data-testid": "widget-send", "aria-label": T.send, text: T.send });
  var humanBtn = h("button", { type: "button", "class": "sd-link", "data-testid": "widget-human", text: T.human, onclick: askHuman });
  var composer = h("form", { "class": "sd-foot", onsubmit: function (e) { e.preventDefault(); sendMessage(); } }, [
    h("div", { "class": "sd-row" }, [input, sendBtn]), humanBtn
  ]);
  var panel = h("div", { "class": "sd-panel", role: "dialog", "aria-label": TITLE, "data-testid": "widget-panel", hidden: true }, [
    h("div", { "class": "sd-head" }, [h("div", null, [h("h2", { text: TITLE }), subtitle]), closeBtn]),
    body, typingEl, alertEl, composer
  ]);
  var rootEl = h("div", { "class": "sd-root " + (ds.position === "left" ? "sd-left" : "sd-right") }, [panel, bubble]);
  root.appendChild(rootEl);
  rootEl.addEventListener("keydown", function (e) { if (e.key === "Escape" && isOpen) setOpen(false); });

  // --- state
  var ws = null, opened = false, retry = 0, retryTimer = null, refused = 0, renewed = false, serverUp = false;
  var status = "open", shown = {}, outbox = [], unread = 0, historyDone = false, lastTyping = 0;
  var typingTimer = null, waitUntil = 0, waitTimer = null, creating = false, isOpen = false;

  function setOpen(on) {
    isOpen = on;
    show(panel, on);
    bubble.setAttribute("aria-expanded", on ? "true" : "false");
    bubble.setAttribute("aria-label", on ? T.close : T.open);
    if (on) {
      unread = 0; renderBadge();
      if (!session && PRECHAT === "off") createSession({});
      render();
      scrollDown();
      (formBox.querySelector("input") || (!input.disabled && input) || closeBtn).focus();
    } else {
      bubble.focus();
    }
  }
  function toggle() { setOpen(!isOpen); }

  function renderBadge() {
    badge.textContent = unread > 9 ? "9+" : String(unread);
    show(badge, unread > 0);
    bubble.setAttribute("aria-label", unread > 0 ? T.open + " — " + T.unread(unread) : (isOpen ? T.close : T.open));
  }
  function scrollDown() { body.scrollTop = body.scrollHeight; }
  function notice(text) {
    alertEl.textContent = text;
    show(alertEl, !!text);
  }

  // The parts that depend on the session and the conversation's status.
  function render() {
    var needForm = !session && PRECHAT !== "off";
    show(formBox, needForm);
    if (needForm && !formBox.firstChild) formBox.appendChild(buildForm());
    show(welcome, !needForm && !log.firstChild && !pendingBox.firstChild);
    var closed = status === "closed";
    show(composer, !needForm && !closed);
    show(humanBtn, status === "open");
    input.disabled = !session || closed;
    updateSend();
    subtitle.textContent = !session ? "" : ws && opened ? T.status[status] || "" : retry > 0 ? T.offline : T.connecting;
    show(csatBox, closed);
    if (closed && !csatBox.firstChild) csatBox.appendChild(session && session.rated === session.conversation_id ? thanks() : buildSurvey());
  }
  function updateSend() {
    var waiting = Date.now() < waitUntil;
    sendBtn.disabled = input.disabled || waiting;
  }

  // --- pre-chat form
  var fields = {};
  function field(name, label, type, required, autocomplete) {
    var err = h("span", { "class": "sd-err", id: "sd-err-" + name, "aria-live": "polite" });
    var inp = h("input", { name: name, type: type, autocomplete: autocomplete, "data-testid": "prechat-" + name, "aria-describedby": "sd-err-" + name, required: required, maxlength: name === "email" ? "254" : name === "phone" ? "32" : "200" });
    fields[name] = { input: inp, err: err, required: required };
    return h("label", null, [label + (required ? " *" : T.optional), inp, err]);
  }
  function buildForm() {
    var req = PRECHAT === "required";
    var form = h("form", { "class": "sd-form", "data-testid": "prechat-form", novalidate: true, onsubmit: submitForm }, [
      h("p", { "class": "sd-note", text: T.prechatIntro }),
      field("name", T.name, "text", req, "name"),
      field("phone", T.phone, "tel", req, "tel"),
      field("email", T.email, "email", false, "email"),
      h("button", { type: "submit", "class": "sd-btn", "data-testid": "prechat-submit", text: T.start })
    ]);
    return form;
  }
  function fieldError(name, msg) {
    var f = fields[name];
    if (!f) return;
    f.err.textContent = msg || "";
    if (msg) f.input.setAttribute("aria-invalid", "true"); else f.input.removeAttribute("aria-invalid");
  }
  function validate() {
    var data = {}, ok = true, firstBad = null;
    ["name", "phone", "email"].forEach(function (name) {
      var f = fields[name], v = f.input.value.trim(), msg = "";
      if (!v && f.required) msg = T.required;
      else if (v && name === "phone" && !/^\+?[0-9 ().\-]{6,25}$/.test(v)) msg = T.badPhone;
      else if (v && name === "phone" && (v.replace(/\D/g, "").length < 6 || v.replace(/\D/g, "").length > 20)) msg = T.badPhone;
      else if (v && name === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) msg = T.badEmail;
      fieldError(name, msg);
      if (msg) { ok = false; firstBad = firstBad || f.input; }
      if (v) data[name] = v;
    });
    if (firstBad) firstBad.focus();
    return ok ? data : null;
  }
  function submitForm(e) {
    e.preventDefault();
    var data = validate();
    if (data) createSession(data);
  }

  // --- session + socket
  function createSession(data) {
    if (creating) return;
    creating = true;
    notice("");
    if (CONTEXT) data.context_token = CONTEXT;
    fetch(ORIGIN + "/api/widget/sessions", {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(data)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { r: r, j: j }; });
    }).then(function (res) {
      creating = false;
      if (res.r.ok && res.j.token) {
        session = { token: res.j.token, conversation_id: res.j.conversation_id, context: CONTEXT };
        save(session);
        formBox.textContent = "";
        fields = {};
        status = "open";
        connect();
        render();
        if (isOpen) input.focus();
        return;
      }
      if (res.r.status === 429) {
        startWait(Number(res.j.retry_after || res.r.headers.get("Retry-After")) || 30);
        return;
      }
      var d = res.j.fields && typeof res.j.fields === "object" ? res.j.fields : res.j.detail;
      if (d && typeof d === "object" && !Array.isArray(d)) {
        var other = [];
        Object.keys(d).forEach(function (k) {
          var msg = [].concat(d[k]).join(" ");
          if (fields[k]) fieldError(k, msg); else other.push(msg);
        });
        if (other.length) notice(T.sorry + other.join(" "));
      } else {
        notice(typeof d === "string" ? T.sorry + d : T.failed);
      }
    }).catch(function () {
      creating = false;
      notice(T.failed);
    });
  }

  function connect() {
    if (!session || ws) return;
    clearTimeout(retryTimer);
    opened = false;
    historyDone = false;
    var sock;
    try { sock = new WebSocket(WS_ORIGIN + "/ws/widget/?token=" + encodeURIComponent(session.token)); } catch (e) { return scheduleRetry(); }
    ws = sock;
    sock.onopen = function () {
      opened = true; retry = 0; refused = 0; serverUp = false;
      notice("");
      render();
      var pending = outbox; outbox = [];
      pending.forEach(sendFrame);
    };
    sock.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f && typeof f === "object") handle(f);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      var wasOpen = opened;
      ws = null; opened = false;
      if (!session || sock.sdStop) return;
      if (!wasOpen && !renewed) {
        if (serverUp) { renewed = true; return restart(false); }
        if (++refused >= 2) return checkRefused();
      }
      scheduleRetry();
    };
  }
  function scheduleRetry() {
    retry++;
    render();
    var delay = Math.min(30000, 1000 * Math.pow(2, retry - 1)) * (0.75 + Math.random() * 0.5);
    retryTimer = setTimeout(connect, delay);
  }
  // Handshakes refused while the server answers /healthz mean the stored token is no longer valid: start afresh
  // (once per page). The server must be seen up *before* the refusal, so a server that is restarting does not count.
  function checkRefused() {
    refused = 0;
    fetch(ORIGIN + "/healthz", { credentials: "omit", cache: "no-store" }).then(function (r) {
      if (!r.ok) return scheduleRetry();
      serverUp = true;
      connect();
    }).catch(scheduleRetry);
  }
  window.addEventListener("online", function () { if (session && !ws) { retry = 0; connect(); } });

  function sendFrame(frame) {
    if (ws && opened && ws.readyState === 1) ws.send(JSON.stringify(frame));
    else { outbox.push(frame); connect(); }
  }

  // --- incoming frames
  function handle(f) {
    if (f.type === "message") addMessage(f);
    else if (f.type === "status") setStatus(f.status);
    else if (f.type === "typing") showTyping(f.role);
    else if (f.type === "error") showError(f);
  }
  function setStatus(s) {
    if (!T.status[s]) return;
    historyDone = true;
    if (s !== status) {
      status = s;
      if (s !== "closed") csatBox.textContent = "";
      if (s === "open") resetHuman();
      if (s === "closed") { hideTyping(); input.blur(); }
    }
    render();
  }
  function showTyping(role) {
    if (role !== "agent" && role !== "bot") return;
    typingEl.textContent = T.typing[role];
    typingEl.setAttribute("data-role", role);
    show(typingEl, true);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 5000);
  }
  function hideTyping() { clearTimeout(typingTimer); show(typingEl, false); }
  function showError(f) {
    var wait = Math.ceil(Number(f.retry_after) || 0);
    if (f.code === "rate_limited" || wait > 0) {
      var last = pendingBox.querySelector(".sd-pending");
      if (last) { last.classList.remove("sd-pending"); last.classList.add("sd-failed"); last.querySelector(".sd-meta").textContent = T.notSent; }
      startWait(wait || 10);
      return;
    }
    resetHuman();
    notice(T.sorry + (typeof f.detail === "string" ? f.detail : f.code || ""));
  }
  function startWait(seconds) {
    waitUntil = Date.now() + seconds * 1000;
    clearInterval(waitTimer);
    var tick = function () {
      var left = Math.ceil((waitUntil - Date.now()) / 1000);
      if (left <= 0) { clearInterval(waitTimer); notice(""); }
      else notice(T.wait(left));
      updateSend();
    };
    tick();
    waitTimer = setInterval(tick, 1000);
  }

  function safeUrl(u) {
    try {
      var url = new URL(String(u), ORIGIN);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) { return null; }
  }
  function timeText(iso) {
    var d = iso ? new Date(iso) : new Date();
    return isNaN(d) ? "" : d.toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit" });
  }
  function bubbleFor(role, text, id, created, sources) {
    var meta = h("div", { "class": "sd-meta", text: timeText(created) });
    var el = h("div", { "class": "sd-msg", "data-testid": "widget-message", "data-role": role, "data-id": id == null ? null : String(id) }, [
      h("div", { "class": "sd-who", text: T.roles[role] || role }),
      h("div", { "class": "sd-text", text: String(text == null ? "" : text) }),
      meta
    ]);
    var links = (Array.isArray(sources) ? sources : []).map(function (s) {
      if (!s || !(s.title || s.url)) return null;
      var href = s.url && safeUrl(s.url), label = String(s.title || href || "");
      return h("li", null, [href ? h("a", { href: href, target: "_blank", rel: "noopener noreferrer", "data-testid": "message-source", text: label }) : h("span", { "data-testid": "message-source", text: label })]);
    }).filter(Boolean);
    if (links.length) el.insertBefore(h("ul", { "class": "sd-src", "data-testid": "message-sources", "aria-label": T.sources }, links), meta);
    return el;
  }
  function addMessage(f) {
    if (f.id != null && shown[f.id]) return;
    var role = ["customer", "bot", "agent", "system"].indexOf(f.role) >= 0 ? f.role : "system";
    if (f.id != null) shown[f.id] = true;
    if (role === "customer") {
      // Our own message coming back: confirm the pending bubble instead of adding a second one.
      var pend = pendingBox.querySelectorAll(".sd-pending");
      for (var i = 0; i < pend.length; i++) {
        if (pend[i].sdText === f.text) {
          pend[i].classList.remove("sd-pending");
          pend[i].setAttribute("data-id", String(f.id));
          pend[i].querySelector(".sd-meta").textContent = timeText(f.created_at);
          log.appendChild(pend[i]);
          return scrollDown();
        }
      }
    } else {
      if (typingEl.getAttribute("data-role") === role) hideTyping();
      if (historyDone && !isOpen) { unread++; renderBadge(); }
    }
    log.appendChild(bubbleFor(role, f.text, f.id, f.created_at, role === "customer" ? null : f.sources));
    render();
    scrollDown();
  }

  // --- outgoing
  function sendMessage() {
    var text = input.value.trim();
    if (!text || sendBtn.disabled || !session) return;
    input.value = "";
    var el = bubbleFor("customer", text, null, null, null);
    el.classList.add("sd-pending");
    el.sdText = text;
    el.querySelector(".sd-meta").textContent = T.sending;
    pendingBox.appendChild(el);
    render();
    scrollDown();
    sendFrame({ type: "message", text: text });
    input.focus();
  }
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendMessage(); }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (input.value && now - lastTyping > 3000 && ws && opened) { lastTyping = now; ws.send(JSON.stringify({ type: "typing" })); }
  });
  function resetHuman() { humanBtn.disabled = false; humanBtn.textContent = T.human; }
  function askHuman() {
    if (!session) return;
    sendFrame({ type: "human" });
    humanBtn.disabled = true;
    humanBtn.textContent = T.humanSent;
  }

  // --- survey
  function buildSurvey() {
    var rating = 0, stars = [];
    var submit = h("button", { type: "submit", "class": "sd-btn", "data-testid": "csat-submit", disabled: true, text: T.rate });
    var comment = h("textarea", { "data-testid": "csat-comment", "aria-label": T.comment, placeholder: T.comment, rows: "2", maxlength: "2000" });
    for (var n = 1; n <= 5; n++) {
      stars.push(h("button", {
        type: "button", "class": "sd-star", "data-testid": "csat-star", "data-rating": String(n), "aria-pressed": "false",
        "aria-label": T.star(n), text: "★",
        onclick: (function (v) { return function () {
          rating = v;
          stars.forEach(function (s, i) { s.setAttribute("aria-pressed", i < v ? "true" : "false"); });
          submit.disabled = false;
        }; })(n)
      }));
    }
    return h("form", { "class": "sd-form", "data-testid": "csat-form", onsubmit: function (e) {
      e.preventDefault();
      if (!rating) return;
      sendFrame({ type: "csat", rating: rating, comment: comment.value.trim() });
      session.rated = session.conversation_id;
      save(session);
      csatBox.textContent = "";
      csatBox.appendChild(thanks());
      csatBox.querySelector("button").focus();
    } }, [
      h("p", { "class": "sd-note", id: "sd-csat-t", text: T.csatTitle }),
      h("div", { "class": "sd-stars", role: "group", "aria-labelledby": "sd-csat-t" }, stars),
      comment, submit
    ]);
  }
  function thanks() {
    return h("div", { "class": "sd-form" }, [
      h("p", { "data-testid": "csat-thanks", text: T.thanks }),
      h("button", { type: "button", "class": "sd-btn", "data-testid": "widget-restart", text: T.restart, onclick: function () { restart(true); } })
    ]);
  }

  // Forget the conversation (closed, or its token refused) and start a new one.
  function restart(fromUser) {
    if (ws) { ws.sdStop = true; ws.close(1000); ws = null; }
    clearTimeout(retryTimer);
    session = null; save(null);
    shown = {}; outbox = []; status = "open"; retry = 0; refused = 0; serverUp = false;
    log.textContent = ""; pendingBox.textContent = ""; csatBox.textContent = ""; formBox.textContent = ""; fields = {};
    resetHuman();
    hideTyping();
    if (PRECHAT === "off" && (fromUser || isOpen)) createSession({});
    render();
    if (fromUser) { var f = formBox.querySelector("input") || input; f.focus(); }
  }

  // --- start
  function mount() {
    document.body.appendChild(host);
    render();
    if (session) connect();
    if (ds.open === "true") setOpen(true);
  }
  window.SupportDeskWidget = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); }
  };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
