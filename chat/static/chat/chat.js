// The conversation page: Enter sends, the composer clears once sent, the view follows the stream.
(function () {
  "use strict";

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
  document.addEventListener("htmx:wsConnecting", function () { setConnection("connecting", "Connecting…"); });
  document.addEventListener("htmx:wsOpen", function () { setConnection("open", "Live"); });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail && event.detail.event ? event.detail.event.code : 0;
    if (code === 4001 || code === 4401) {
      setConnection("closed", "Signed out — reload to sign in");
    } else if (code === 4404) {
      setConnection("closed", "Conversation not found");
    } else {
      setConnection("connecting", "Reconnecting…");
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    scrollToEnd();
    var input = composerInput();
    if (input) input.focus();
  });
})();
