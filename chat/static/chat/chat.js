// The conversation page: Enter sends, the composer clears once sent, the view follows the stream.
(function () {
  "use strict";

  // i18n: the page's words for this script (base.html embeds them), English without them.
  var words = {};
  try { words = JSON.parse(document.getElementById("script-words").textContent); } catch (e) { words = {}; }
  function _(text) { return typeof words[text] === "string" ? words[text] : text; }

  function composerInput() {
    return document.getElementById("message-input");
  }

  function messages() {
    return document.getElementById("messages");
  }

  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  }

  function scrollToEnd() {
    var list = messages();
    if (list) list.scrollTop = list.scrollHeight;
  }

  document.addEventListener("keydown", function (event) {
    var input = composerInput();
    if (event.target !== input || event.key !== "Enter") return;
    if (event.shiftKey || event.isComposing) return; // Shift+Enter: a new line
    event.preventDefault();
    if (input.value.trim() === "") return;
    input.form.requestSubmit();
  });

  var followStream = true;
  document.addEventListener("htmx:wsBeforeMessage", function () {
    var list = messages();
    followStream = !list || nearBottom(list);
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (followStream) scrollToEnd();
  });

  document.addEventListener("htmx:wsAfterSend", function (event) {
    if (event.target && event.target.id === "composer") {
      var input = composerInput();
      input.value = "";
      input.focus();
      followStream = true;
    }
  });

  function setConnection(state, label) {
    var badge = document.getElementById("connection");
    if (!badge) return;
    badge.dataset.state = state;
    badge.textContent = label;
  }
  // The server's close codes, written on <main> from chat/consumers.py (no copy here).
  function closeCodes(name) {
    var chat = document.getElementById("chat");
    return chat && chat.dataset[name] ? chat.dataset[name].split(" ").map(Number) : [];
  }
  document.addEventListener("htmx:wsConnecting", function () { setConnection("connecting", _("Connecting…")); });
  document.addEventListener("htmx:wsOpen", function () { setConnection("open", _("Live")); });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail && event.detail.event ? event.detail.event.code : 0;
    if (closeCodes("closeSignedOut").indexOf(code) >= 0) {
      setConnection("closed", _("Signed out — reload to sign in"));
    } else if (closeCodes("closeNotFound").indexOf(code) >= 0) {
      setConnection("closed", _("Conversation not found"));
    } else {
      setConnection("connecting", _("Reconnecting…"));
    }
  });

  // --- Streaming answers: numbered delta frames, applied in order --------------------------
  // A delta frame is JSON: {type: "delta", message, seq, from, blocks, text, reasoning}. It
  // replaces the answer's blocks from `from` on with `blocks` (HTML sanitized by the server).
  // A frame whose seq is not the next one means a frame was missed: the page asks the server
  // for the answer as it stands ("resync"), which comes back as the whole bubble.
  var lastSeq = {};
  var lastFrameAt = {};
  var resyncAsked = {};
  var socket = null;

  function bubbleSeq(bubble) {
    var id = bubble.id.slice("message-".length);
    var shown = Number(bubble.dataset.seq || 0);
    return Math.max(shown, lastSeq[id] || 0);
  }

  function askResync(id) {
    var now = Date.now();
    if (!socket || (resyncAsked[id] && now - resyncAsked[id] < 3000)) return;
    resyncAsked[id] = now;
    socket.send(JSON.stringify({ action: "resync", message: Number(id) }));
  }

  function applyDelta(frame) {
    var id = String(frame.message);
    var bubble = document.getElementById("message-" + id);
    lastFrameAt[id] = Date.now();
    if (!bubble || bubble.dataset.status !== "streaming") return; // finished, or not shown
    var last = bubbleSeq(bubble);
    if (frame.seq <= last) return; // already shown (a snapshot overtook it)
    if (frame.seq !== last + 1) { askResync(id); return; }
    lastSeq[id] = frame.seq;
    bubble.dataset.seq = String(frame.seq);
    var body = bubble.querySelector("[data-blocks]");
    if (body && frame.from < 0) {
      // Text alone, between two renders: shown as plain text until the next render.
      var tail = body.lastElementChild;
      if (!tail) {
        tail = document.createElement("div");
        tail.dataset.block = "0";
        body.appendChild(tail);
      }
      var target = tail.lastElementChild || tail;
      target.appendChild(document.createTextNode(frame.text));
    } else if (body) {
      Array.prototype.slice.call(body.children).forEach(function (block) {
        if (Number(block.dataset.block) >= frame.from) block.remove();
      });
      frame.blocks.forEach(function (html, index) {
        var block = document.createElement("div");
        block.dataset.block = String(frame.from + index);
        block.innerHTML = html; // sanitized by the server (nh3)
        body.appendChild(block);
      });
    }
    if (frame.reasoning) {
      var reasoning = bubble.querySelector("[data-reasoning-text]");
      if (reasoning) reasoning.appendChild(document.createTextNode(frame.reasoning));
    }
    document.dispatchEvent(new CustomEvent("chat:delta", { detail: frame }));
  }

  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    socket = event.detail.socketWrapper;
    var message = event.detail.message;
    if (typeof message === "string" && message.charAt(0) === "{") {
      event.preventDefault(); // not HTML: ours to apply
      var list = messages();
      followStream = !list || nearBottom(list);
      try { applyDelta(JSON.parse(message)); } catch (error) { /* a bad frame: ignore it */ }
      if (followStream) scrollToEnd();
      return;
    }
    // A whole bubble older than what is shown (a snapshot overtaken by deltas) is dropped.
    var match = /^<article id="message-(\d+)"[^>]*data-status="streaming" data-seq="(\d+)"/.exec(message);
    if (match) {
      var shown = document.getElementById("message-" + match[1]);
      if (shown && shown.dataset.status === "streaming" && Number(match[2]) < bubbleSeq(shown)) {
        event.preventDefault();
      }
    }
  });

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    // Answers that were streaming when the socket dropped: ask for them as they stand now.
    document.querySelectorAll('.bubble[data-status="streaming"]').forEach(function (bubble) {
      resyncAsked[bubble.id.slice("message-".length)] = 0;
      askResync(bubble.id.slice("message-".length));
    });
  });

  // An answer that goes quiet for long may have missed its last frame: ask how it stands.
  setInterval(function () {
    var now = Date.now();
    document.querySelectorAll('.bubble[data-status="streaming"]').forEach(function (bubble) {
      var id = bubble.id.slice("message-".length);
      if (!lastFrameAt[id]) lastFrameAt[id] = now;
      if (now - lastFrameAt[id] > 5000) askResync(id);
    });
  }, 2000);

  // Each (re)connection says which messages the page has, so only what it missed is sent.
  var createWebSocket = htmx.createWebSocket;
  htmx.createWebSocket = function (url) {
    var ids = Array.prototype.map.call(
      document.querySelectorAll('#messages > .bubble[id^="message-"]'),
      function (bubble) { return Number(bubble.id.slice("message-".length)); }
    );
    if (ids.length) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + Math.max.apply(null, ids);
    }
    return createWebSocket(url);
  };

  document.addEventListener("DOMContentLoaded", function () {
    scrollToEnd();
    var input = composerInput();
    if (input) input.focus();
  });
})();
