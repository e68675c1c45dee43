/* SupportDesk agents' console: the small glue htmx does not do. No build step.
 *
 * - tells the console socket what the page shows (inbox filters and rows, the open conversation), again after
 *   every reconnect (elements with data-ws-subscribe);
 * - JSON frames from the socket (hello, ack, pong, error) are handled here, HTML fragments by htmx (hx-swap-oob);
 * - snippets: "/retour" followed by Space or Tab (or a click on the hint) expands to the saved answer;
 * - Ctrl/Cmd+Enter sends, the agent's typing is relayed, notifications fade, the thread scrolls down;
 * - copilot: the first suggested variant shows as ghost text in the reply box (while the box is empty or holds a
 *   prefix of it); Tab accepts it, Esc dismisses it (recorded as ignored), a click on a variant puts it in the box;
 *   the form's hidden suggestion_id names the suggestion on screen so that sending records its outcome.
 * Text is only ever put in the page with textContent.
 */
(function () {
  "use strict";

  var socket = null; // htmx-ext-ws socket wrapper (queues frames while reconnecting)
  var snippets = null; // [{shortcut, title, body}]
  var lastTyping = 0;
  var dismissed = {}; // suggestion id -> true: no ghost text for it any more (Esc, or a reply was sent)
  var sentFor = {}; // suggestion id -> true: its outcome was recorded by a sent reply
  var pendingSend = null; // {id, reply} of the reply form's request in flight

  // Returns whether the frame went to a socket (false before the console's socket first opens).
  function send(frame) {
    if (!socket) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function subscriptionFrame(el) {
    var d = el.dataset;
    if (d.wsSubscribe === "inbox") {
      return { type: "inbox", tab: d.tab || "", channel: d.channel || "", status: d.status || "", label: d.label || "", rows: d.rows || "" };
    }
    if (d.wsSubscribe === "open") {
      return { type: "open", conversation_id: parseInt(d.conversationId, 10) };
    }
    return null;
  }

  function subscribeWithin(root) {
    var els = [];
    if (root.matches && root.matches("[data-ws-subscribe]")) els.push(root);
    if (root.querySelectorAll) els = els.concat(Array.prototype.slice.call(root.querySelectorAll("[data-ws-subscribe]")));
    els.forEach(function (el) {
      var frame = subscriptionFrame(el);
      // A newly opened conversation: typing frames sent before it went to the previous one (or to none, when the
      // agent types before htmx settles the swap): the next key is relayed at once, not 3 s later.
      if (frame && send(frame) && frame.type === "open") lastTyping = 0;
    });
  }

  function setSocketState(state, text) {
    var el = document.getElementById("socket-state");
    if (el) {
      el.dataset.state = state;
      el.textContent = text;
    }
  }

  function toast(text, kind) {
    var box = document.getElementById("notifications");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast toast-" + (kind || "info");
    el.setAttribute("role", "status");
    el.dataset.testid = "notification";
    el.textContent = text;
    box.appendChild(el);
    fade(el);
  }

  function fade(el) {
    setTimeout(function () { el.remove(); }, 15000);
  }

  function scrollThread() {
    document.querySelectorAll(".messages").forEach(function (ol) { ol.scrollTop = ol.scrollHeight; });
  }

  // ------------------------------------------------------------------ socket

  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail.socketWrapper;
    setSocketState("open", "live");
    subscribeWithin(document);
  });

  document.addEventListener("htmx:wsClose", function () {
    setSocketState("closed", "live: reconnecting…");
  });

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var message = evt.detail.message;
    if (typeof message !== "string" || message.slice(0, 2) !== '{"') return; // HTML fragments: htmx swaps them
    evt.preventDefault();
    var frame;
    try { frame = JSON.parse(message); } catch (e) { return; }
    if (frame.type === "error") toast(frame.detail || "The live connection refused a request.", "error");
  });

  var baseTitle = document.title;
  var unseen = 0;

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; document.title = baseTitle; }
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    document.querySelectorAll("#notifications .toast:not([data-fading])").forEach(function (el) {
      el.dataset.fading = "1";
      fade(el);
      if (document.hidden && el.dataset.kind === "escalated") {
        unseen += 1;
        document.title = "(" + unseen + ") " + baseTitle; // the tab says someone is waiting
      }
    });
    document.querySelectorAll(".typing").forEach(function (el) {
      if (el.textContent.trim() && !el.dataset.clearing) {
        el.dataset.clearing = "1";
        setTimeout(function () { el.textContent = ""; delete el.dataset.clearing; }, 6000);
      }
    });
    scrollThread();
    refreshCopilot();
  });

  htmx.onLoad(function (elt) {
    subscribeWithin(elt);
    if (pendingSend && elt.matches && elt.matches("form.reply")) replyFormReturned(elt);
    refreshCopilot();
    if (elt.querySelector && elt.querySelector(".messages")) scrollThread();
    var input = elt.matches && elt.matches("form.reply") ? elt.querySelector("textarea") : null;
    if (input && !elt.querySelector(".error")) input.focus();
  });

  document.addEventListener("click", function (evt) {
    var variant = evt.target.closest && evt.target.closest(".copilot-reply");
    if (variant) useVariant(variant.textContent);
    var close = evt.target.closest && evt.target.closest(".toast-close");
    if (close) close.closest(".toast").remove();
    var row = evt.target.closest && evt.target.closest(".inbox-item.unread");
    if (row) row.classList.remove("unread"); // read once opened
  });

  // ------------------------------------------------------------------ reply box: snippets, shortcuts, typing

  function loadSnippets() {
    if (snippets !== null) return;
    snippets = [];
    var root = document.querySelector("[data-snippets-url]");
    if (!root) return;
    fetch(root.dataset.snippetsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { snippets: [] }; })
      .then(function (data) { snippets = data.snippets || []; })
      .catch(function () { snippets = null; });
  }

  // The "/shortcut" being typed just before the caret, or null.
  function tokenBeforeCaret(textarea) {
    var before = textarea.value.slice(0, textarea.selectionStart);
    var m = /(^|\s)\/([a-z0-9_-]*)$/.exec(before);
    if (!m) return null;
    return { prefix: m[2], start: before.length - m[2].length - 1, end: before.length };
  }

  function expand(textarea, token, snippet) {
    var value = textarea.value;
    textarea.value = value.slice(0, token.start) + snippet.body + value.slice(token.end);
    var caret = token.start + snippet.body.length;
    textarea.setSelectionRange(caret, caret);
    hideHints(textarea);
  }

  function hintsBox(textarea) {
    return textarea.form && textarea.form.querySelector(".snippet-hints");
  }

  function hideHints(textarea) {
    var box = hintsBox(textarea);
    if (box) { box.hidden = true; box.textContent = ""; }
  }

  function showHints(textarea, token) {
    var box = hintsBox(textarea);
    if (!box || !snippets) return;
    var matches = snippets.filter(function (s) { return s.shortcut.indexOf(token.prefix) === 0; }).slice(0, 6);
    box.textContent = "";
    if (!matches.length) { box.hidden = true; return; }
    matches.forEach(function (s) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "snippet-hint";
      b.dataset.testid = "snippet-hint";
      b.textContent = "/" + s.shortcut + " — " + s.title;
      b.addEventListener("click", function () {
        var t = tokenBeforeCaret(textarea) || token;
        expand(textarea, t, s);
        textarea.focus();
      });
      box.appendChild(b);
    });
    box.hidden = false;
  }

  document.addEventListener("focusin", function (evt) {
    if (evt.target.matches && evt.target.matches("form.reply textarea")) loadSnippets();
  });

  document.addEventListener("input", function (evt) {
    var textarea = evt.target;
    if (!(textarea.matches && textarea.matches("form.reply textarea"))) return;
    var token = tokenBeforeCaret(textarea);
    if (token) showHints(textarea, token); else hideHints(textarea);
    refreshCopilot();
    var now = Date.now();
    // The throttle starts only when the frame was sent: keys typed before the socket opened must not hold back
    // the first typing frame for 3 s.
    if (now - lastTyping > 3000 && textarea.value.trim() && send({ type: "typing" })) lastTyping = now;
  });

  document.addEventListener("keydown", function (evt) {
    var textarea = evt.target;
    if (!(textarea.matches && textarea.matches("form.reply textarea"))) return;
    if ((evt.ctrlKey || evt.metaKey) && evt.key === "Enter") {
      evt.preventDefault();
      var sendButton = textarea.form.querySelector('[data-testid="reply-send"]');
      if (sendButton && !sendButton.disabled) sendButton.click();
      return;
    }
    if (evt.key === " " || evt.key === "Tab") {
      var token = tokenBeforeCaret(textarea);
      var snippet = token && snippets && snippets.find(function (s) { return s.shortcut === token.prefix; });
      if (snippet) {
        evt.preventDefault();
        expand(textarea, token, snippet);
      } else if (evt.key === "Tab" && ghostShown(textarea)) {
        evt.preventDefault(); // accept the ghost text, and stay in the box
        var suggestion = currentSuggestion();
        setReply(textarea, suggestion.text);
      }
    } else if (evt.key === "Escape") {
      hideHints(textarea);
      if (ghostShown(textarea)) dismissSuggestion(currentSuggestion().id);
    }
  });

  // ------------------------------------------------------------------ copilot (docs/copilot.md)

  // The suggestion on screen: #copilot-panel's id, whether it may be a ghost, and the first variant's text so far.
  function currentSuggestion() {
    var panel = document.getElementById("copilot-panel");
    var id = panel && panel.dataset.suggestionId;
    if (!id) return null;
    var first = document.getElementById("copilot-reply-0");
    return { id: id, ghost: panel.dataset.ghost === "1" && !dismissed[id], text: first ? first.textContent : "" };
  }

  function replyForm() {
    return document.querySelector("form.reply");
  }

  function ghostShown(textarea) {
    var ghost = textarea.form && textarea.form.querySelector(".ghost");
    return !!(ghost && !ghost.hidden);
  }

  function refreshCopilot() {
    var form = replyForm();
    if (!form) return;
    var suggestion = currentSuggestion();
    var hidden = form.querySelector("[data-copilot-suggestion]");
    var pending = suggestion && document.getElementById("copilot-panel").dataset.ghost === "1";
    if (hidden) hidden.value = pending && !sentFor[suggestion.id] ? suggestion.id : "";
    var textarea = form.querySelector("textarea");
    var ghost = form.querySelector(".ghost");
    if (!textarea || !ghost) return;
    var typed = textarea.value;
    var text = suggestion && suggestion.ghost ? suggestion.text : "";
    var show = text.length > typed.length && text.indexOf(typed) === 0;
    ghost.hidden = !show;
    textarea.classList.toggle("has-ghost", show);
    var hint = form.querySelector(".ghost-hint");
    if (hint) hint.hidden = !show;
    if (!show) return;
    ghost.querySelector(".ghost-typed").textContent = typed;
    ghost.querySelector(".ghost-rest").textContent = text.slice(typed.length);
    ghost.scrollTop = textarea.scrollTop;
  }

  function setReply(textarea, text) {
    textarea.value = text;
    textarea.setSelectionRange(text.length, text.length);
    textarea.focus();
    refreshCopilot();
  }

  function useVariant(text) {
    var form = replyForm();
    var textarea = form && form.querySelector("textarea");
    if (textarea && text) setReply(textarea, text);
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }

  function dismissSuggestion(id) {
    dismissed[id] = true;
    refreshCopilot();
    var section = document.querySelector("[data-dismiss-url]");
    if (!section) return;
    fetch(section.dataset.dismissUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
      body: new URLSearchParams({ suggestion_id: id }),
    }).catch(function () { /* the outcome stays pending: nothing the agent must redo */ });
  }

  // The reply form comes back after a send: fresh (sent; the server recorded the suggestion's outcome) or with an error.
  function replyFormReturned(form) {
    if (pendingSend.reply && !form.querySelector(".error")) {
      sentFor[pendingSend.id] = true; // the next reply box names no suggestion, and no ghost for it again
      dismissed[pendingSend.id] = true;
    }
    pendingSend = null;
  }

  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!(form.matches && form.matches("form.reply"))) return;
    var hidden = form.querySelector("[data-copilot-suggestion]");
    var reply = !evt.submitter || evt.submitter.value !== "note";
    pendingSend = hidden && hidden.value ? { id: hidden.value, reply: reply } : null;
  }, true);
})();
