// features: the conversation features around the chat. Kept apart from chat.js (which owns the
// socket and the stream): everything here works from the DOM as it is, whoever updated it.
//   - times in the browser's time zone (and the `tz` cookie, so the server groups by its days)
//   - the tab title follows the conversation title
//   - Stop answering / Escape, a stale refusal cleared when the answer ends, "Jump to latest"
//   - finished sentences of the streamed answer announced politely
//   - Copy, Edit, paging between versions; the sidebar menu (Rename, Delete), phone drawer
//   - the dark-mode switch
(function () {
  "use strict";

  var STREAMING = ".bubble.is-streaming";
  // i18n: the page's words for this script (base.html embeds them), English without them;
  // numbers and dates in the page's language.
  var words = {};
  try { words = JSON.parse(document.getElementById("script-words").textContent); } catch (e) { words = {}; }
  function _(text) { return typeof words[text] === "string" ? words[text] : text; }
  function interpolate(format, args) { return format.replace("%s", args[0]); }
  // The browser's own variant of the page's language (en-GB keeps its 24-hour clock), else the
  // page's language itself (a Korean page in an English browser writes Korean dates).
  var pageLanguage = (function () {
    var lang = document.documentElement.lang;
    if (!lang) return undefined;
    var preferred = (navigator.languages || [navigator.language || ""]).filter(function (tag) {
      return tag && tag.toLowerCase().split("-")[0] === lang.toLowerCase().split("-")[0];
    });
    return preferred.length ? preferred[0] : lang;
  })();

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  // --- Time zone and times -----------------------------------------------------------------

  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  if (zone) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
  }
  var timeOnly = new Intl.DateTimeFormat(pageLanguage, { hour: "2-digit", minute: "2-digit" });
  var dayOnly = new Intl.DateTimeFormat(pageLanguage, { day: "numeric", month: "short" });
  var fullDate = new Intl.DateTimeFormat(pageLanguage, {
    weekday: "long", year: "numeric", month: "long", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function localizeTimes(root) {
    $all("time[datetime]:not([data-local])", root).forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      var inList = !!el.closest(".conversation-list");
      el.textContent = inList && !isRecent(when) ? dayOnly.format(when) : timeOnly.format(when);
      el.title = fullDate.format(when);
      el.dataset.local = "1";
    });
  }

  function isRecent(when) {
    var yesterday = new Date();
    yesterday.setDate(yesterday.getDate() - 1);
    return sameDay(when, new Date()) || sameDay(when, yesterday);
  }

  // --- Tab title, streaming state, stale refusals, announcements -----------------------------

  var wasStreaming = false;
  var announced = { id: "", offset: 0 };

  function syncTitle() {
    var heading = document.getElementById("chat-title");
    if (!heading) return;
    var wanted = heading.textContent.trim() + " · taxsite";
    if (document.title !== wanted) document.title = wanted;
  }

  function announce(text) {
    var region = document.getElementById("answer-announcer");
    text = text.replace(/\s+/g, " ").trim();
    if (region && text) region.textContent = text;
  }

  // What a listener hears: the answer's words without Markdown marks, whitespace collapsed, so
  // that the streamed text (raw or rendered) and the finished answer's source line up.
  function spoken(text) {
    return text.replace(/[*_`#>|]+/g, "").replace(/(^|\n)\s*[-+]\s+/g, "$1").replace(/\s+/g, " ").trim();
  }

  // Finished sentences only: up to the last ".", "!" or "?" that a space follows (a "." at the
  // very end may be a decimal point still being written: "85,000." then "50").
  function lastSentenceEnd(text, from) {
    var end = -1;
    var re = /[.!?\u3002](?=\s)/g;
    re.lastIndex = from;
    var match;
    while ((match = re.exec(text)) !== null) end = match.index + 1;
    return end;
  }

  function followAnswer() {
    var bubble = $(STREAMING);
    if (bubble) {
      var source = $(".streaming-text", bubble) || $(".bubble-body", bubble);
      var text = spoken(source ? source.textContent : "");
      if (announced.id !== bubble.id) announced = { id: bubble.id, offset: 0 };
      var end = lastSentenceEnd(text, announced.offset);
      if (end > announced.offset) {
        announce(text.slice(announced.offset, end));
        announced.offset = end;
      }
    } else if (announced.id) {
      var finished = document.getElementById(announced.id);
      if (finished) {
        var whole = $("template.message-source", finished);
        var rest = spoken(whole ? whole.content.textContent : "").slice(announced.offset);
        var notice = $(".bubble-notice", finished);
        announce(rest + (notice ? " " + notice.textContent : ""));
      }
      announced = { id: "", offset: 0 };
    }
  }

  function streamingChanged(streaming) {
    var chat = document.getElementById("chat");
    if (chat) chat.setAttribute("aria-busy", streaming ? "true" : "false");
    if (!streaming) {
      // A refusal ("An answer is still being written…") is stale once the answer ended.
      var alert = document.getElementById("chat-alert");
      if (alert && alert.classList.contains("is-visible")) {
        alert.classList.remove("is-visible");
        alert.textContent = "";
      }
    }
  }

  function afterChange() {
    localizeTimes(document);
    syncTitle();
    followAnswer();
    var streaming = !!$(STREAMING);
    if (streaming !== wasStreaming) {
      wasStreaming = streaming;
      streamingChanged(streaming);
    }
    updateJump();
  }

  var scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    window.requestAnimationFrame(function () { scheduled = false; afterChange(); });
  }

  // --- Stop answering: Escape; Enter rests while an answer is written ---------------------------

  window.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    if (event.target && event.target.id === "message-input" && $(STREAMING)) {
      event.preventDefault();
      event.stopImmediatePropagation(); // the Send button is "Stop answering" until it ends
    }
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    var target = event.target;
    if (target && target.closest && target.closest(".edit-form, .rename-form, dialog")) return;
    if (document.body.classList.contains("sidebar-open")) {
      closeSidebar();
      return;
    }
    var stop = document.getElementById("stop-form");
    if (stop && $(STREAMING)) {
      event.preventDefault();
      stop.requestSubmit();
    }
  });

  // --- Jump to latest -------------------------------------------------------------------------

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 120; }

  function updateJump() {
    var list = document.getElementById("messages");
    var jump = $(".jump-latest");
    if (!list || !jump) return;
    jump.hidden = nearBottom(list);
  }

  document.addEventListener("click", function (event) {
    var jump = event.target.closest(".jump-latest");
    if (!jump) return;
    var list = document.getElementById("messages");
    if (list) list.scrollTop = list.scrollHeight;
    jump.hidden = true;
    var input = document.getElementById("message-input");
    if (input) input.focus();
  });

  // --- Copy, Edit, versions -------------------------------------------------------------------

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function flash(button, label) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = label;
    window.setTimeout(function () { button.textContent = original; }, 1500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".copy-button");
    if (!button) return;
    var source = $("template.message-source", button.parentNode);
    var text = source ? source.content.textContent : "";
    copyText(text).then(function () { flash(button, _("Copied")); announce(_("Copied")); },
      function () { flash(button, _("Copy failed")); });
  });

  // Regenerate, Retry, Edit: sent over the conversation's socket through one form outside the
  // transcript (the transcript itself holds no form).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-ws-action]");
    var form = document.getElementById("action-form");
    if (!button || !form) return;
    var action = button.dataset.wsAction;
    var text = "";
    if (action === "edit") {
      var editor = button.closest(".edit-form");
      text = editor ? $("textarea", editor).value : "";
      if (text.trim() === "") return;
    }
    form.elements.action.value = action;
    form.elements.message_id.value = button.dataset.messageId;
    form.elements.message.value = text;
    form.requestSubmit();
    button.disabled = true; // once; the new version replaces this bubble (or a refusal shows)
    window.setTimeout(function () { button.disabled = false; }, 4000);
  });

  function editFormOf(toggle) { return document.getElementById(toggle.getAttribute("aria-controls")); }

  function closeEdit(form) {
    if (!form) return;
    form.hidden = true;
    var bubble = form.closest(".bubble");
    var toggle = bubble ? $(".edit-toggle", bubble) : null;
    if (toggle) { toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
    var area = $("textarea", form);
    if (area) area.value = area.defaultValue;
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".edit-toggle");
    if (toggle) {
      var form = editFormOf(toggle);
      if (!form) return;
      form.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
      var area = $("textarea", form);
      if (area) { area.focus(); area.setSelectionRange(area.value.length, area.value.length); }
      return;
    }
    var cancel = event.target.closest(".edit-cancel");
    if (cancel) closeEdit(cancel.closest(".edit-form"));
  });

  document.addEventListener("keydown", function (event) {
    var form = event.target.closest && event.target.closest(".edit-form");
    if (!form) return;
    if (event.key === "Escape") {
      event.preventDefault();
      closeEdit(form);
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.target.tagName === "TEXTAREA") {
      event.preventDefault();
      var send = $("[data-ws-action=edit]", form);
      if (send && event.target.value.trim() !== "") send.click();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".version-button");
    if (!button || !button.dataset.versionUrl) return;
    var bubble = button.closest(".bubble");
    var label = button.getAttribute("aria-label");
    fetch(button.dataset.versionUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var holder = document.createElement("template");
        holder.innerHTML = html;
        var bubbles = $all("article.bubble", holder.content);
        if (!bubbles.length || !bubble) return;
        var next = bubble.nextElementSibling;
        bubble.replaceWith(bubbles[0]);
        if (bubbles[1] && next && next.classList.contains("bubble--assistant")) next.replaceWith(bubbles[1]);
        bubbles.forEach(function (el) { if (window.htmx) window.htmx.process(el); });
        var again = $('.version-button[aria-label="' + label + '"]:not([disabled])', bubbles[0]) ||
          $(".version-button:not([disabled])", bubbles[0]);
        if (again) again.focus();
        announce($(".version-count", bubbles[0]) ? interpolate(_("Version %s"), [$(".version-count", bubbles[0]).textContent]) : "");
      })
      .catch(function () { flash(button, "!"); });
  });

  // --- Search as you type; "Load earlier" ---------------------------------------------------

  function fetchHtml(url) {
    return fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      });
  }

  var searchTimer = 0;
  var searchAsked = "";
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.dataset || !input.dataset.results) return;
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(function () {
      var query = input.value.trim();
      var results = document.getElementById(input.dataset.results);
      if (!results || query === searchAsked) return;
      searchAsked = query;
      if (!query) { results.innerHTML = ""; return; }
      var url = input.form.getAttribute("action") + "?q=" + encodeURIComponent(query);
      fetchHtml(url).then(function (html) {
        if (searchAsked === query) results.innerHTML = html; // rendered and escaped by the server
      }).catch(function () { /* the form still works without script */ });
    }, 250);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".load-earlier-button");
    if (!button || !button.dataset.url) return;
    button.disabled = true;
    var list = document.getElementById("messages");
    var keep = list ? list.scrollHeight - list.scrollTop : 0;
    fetchHtml(button.dataset.url).then(function (html) {
      var holder = document.createElement("template");
      holder.innerHTML = html;
      var wrapper = button.closest(".load-earlier");
      wrapper.replaceWith(holder.content);
      if (list) list.scrollTop = list.scrollHeight - keep; // stay on what was being read
    }).catch(function () { button.disabled = false; });
  });

  // --- Sidebar: phone drawer, conversation menu (Rename, Delete), menus close outside ----------

  // The open conversation may be listed below the sidebar's fold (an old one, opened from All
  // conversations or search, comes last): scroll the sidebar, not the page, to show it.
  function showCurrentInSidebar() {
    var sidebar = document.getElementById("sidebar");
    var current = sidebar && $('.conversation-list a[aria-current="page"]', sidebar);
    if (!current) return;
    var box = sidebar.getBoundingClientRect();
    var item = current.getBoundingClientRect();
    if (!box.height || (item.top >= box.top && item.bottom <= box.bottom)) return;
    sidebar.scrollTop += item.top - box.top - (box.height - item.height) / 2;
  }

  function closeSidebar() {
    document.body.classList.remove("sidebar-open");
    var toggle = $(".sidebar-toggle");
    if (toggle) { toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".sidebar-toggle");
    if (toggle) {
      var open = !document.body.classList.contains("sidebar-open");
      document.body.classList.toggle("sidebar-open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) {
        var first = $("#sidebar .new-conversation");
        if (first) first.focus();
      }
      return;
    }
    if (document.body.classList.contains("sidebar-open") && event.target.classList.contains("layout")) {
      closeSidebar(); // a tap on the dimmed page beside the drawer
    }
    $all("details.conversation-menu[open], details.export-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  function itemOf(el) { return el.closest(".conversation-item"); }

  function cancelRename(form) {
    var item = itemOf(form);
    form.hidden = true;
    if (item) item.classList.remove("is-renaming");
    var input = $("input[name=title]", form);
    if (input) input.value = input.defaultValue;
    var menu = item ? $(".conversation-menu-button", item) : null;
    if (menu) menu.focus();
  }

  document.addEventListener("click", function (event) {
    var rename = event.target.closest(".rename-button");
    if (!rename) return;
    var form = document.getElementById(rename.dataset.rename);
    var item = itemOf(rename);
    if (!form || !item) return;
    var menu = rename.closest("details");
    if (menu) menu.open = false;
    item.classList.add("is-renaming");
    form.hidden = false;
    var input = $("input[name=title]", form);
    input.focus();
    input.select();
  });

  document.addEventListener("keydown", function (event) {
    var form = event.target.closest && event.target.closest(".rename-form");
    if (form && event.key === "Escape") {
      event.preventDefault();
      cancelRename(form);
    }
  });

  // Rename saves in place: the list (and, for this conversation, the title) come back as HTML.
  // The CSRF token is the page's own (the list may have been re-rendered over the socket).
  document.addEventListener("submit", function (event) {
    var form = event.target.closest(".rename-form");
    if (!form) return;
    event.preventDefault();
    var token = $("input[name=csrfmiddlewaretoken]");
    var data = new FormData(form);
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRFToken": token ? token.value : "" }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("template");
      holder.innerHTML = html;
      $all("[id]", holder.content).forEach(function (fresh) {
        if (fresh.parentNode !== holder.content) return;
        fresh.removeAttribute("hx-swap-oob");
        var old = document.getElementById(fresh.id);
        if (old) old.replaceWith(fresh);
      });
    }).catch(function () { cancelRename(form); });
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest(".delete-link");
    var dialog = document.getElementById("delete-dialog");
    if (!link || !dialog || typeof dialog.showModal !== "function") return;
    event.preventDefault();
    var menu = link.closest("details");
    if (menu) menu.open = false;
    $("form", dialog).setAttribute("action", link.getAttribute("href"));
    $(".delete-dialog-name", dialog).textContent = "“" + (link.dataset.title || _("Untitled")) + "”";
    dialog.showModal();
    $(".dialog-cancel", dialog).focus();
  });

  document.addEventListener("click", function (event) {
    var cancel = event.target.closest(".dialog-cancel");
    if (cancel) cancel.closest("dialog").close();
  });

  // --- Dark mode switch -----------------------------------------------------------------------

  var systemDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function isDark() {
    var chosen = document.documentElement.dataset.theme;
    if (chosen) return chosen === "dark";
    return !!(systemDark && systemDark.matches);
  }

  function syncThemeToggle() {
    $all(".theme-toggle").forEach(function (button) {
      button.setAttribute("aria-pressed", isDark() ? "true" : "false");
    });
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest(".theme-toggle")) return;
    var theme = isDark() ? "light" : "dark";
    document.documentElement.dataset.theme = theme;
    try { window.localStorage.setItem("theme", theme); } catch (e) { /* not remembered */ }
    syncThemeToggle();
  });
  if (systemDark && systemDark.addEventListener) systemDark.addEventListener("change", syncThemeToggle);

  // --- Start ----------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    syncThemeToggle();
    showCurrentInSidebar();
    var disclaimer = $(".disclaimer");
    if (disclaimer && window.matchMedia("(min-width: 761px)").matches) disclaimer.open = true;
    var list = document.getElementById("messages");
    if (list) list.addEventListener("scroll", updateJump, { passive: true });
    if (location.hash.indexOf("#message-") === 0) {
      var target = document.getElementById(location.hash.slice(1));
      if (target) {
        target.classList.add("is-found");
        window.setTimeout(function () { target.scrollIntoView({ block: "center" }); }, 50);
      }
    }
    afterChange();
    new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
})();
