// kith web: search as you type. The page works without this script: the search box is a
// normal form. Same-origin fetch only (the Content-Security-Policy allows nothing else).
"use strict";
(function () {
  var q = document.getElementById("q");
  var results = document.getElementById("results");
  if (!q || !results) return;
  var timer = null;
  var seq = 0;
  function update() {
    var form = q.form;
    var params = new URLSearchParams(new FormData(form));
    params.set("partial", "1");
    var mine = ++seq;
    fetch("/?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || mine !== seq) return;
        results.innerHTML = html;
        params.delete("partial");
        history.replaceState(null, "", "/?" + params.toString());
      })
      .catch(function () {});
  }
  q.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 120);
  });
})();

// Live updates: /events reports the vault's change counter (Server-Sent Events). When it
// differs from the one this page was rendered at, the page's live fragments (elements with
// data-live and an id) are fetched again and replaced; forms the user is typing into are
// outside those fragments, so nothing typed is lost. On an edit form nothing is replaced: a
// note says the record changed elsewhere (saving merges the edit with that change).
(function () {
  var seq = document.body && document.body.getAttribute("data-seq");
  if (!window.EventSource || seq === null) return;
  var note = document.getElementById("live-note");
  var busy = false;
  var again = false;
  function refresh() {
    if (busy) { again = true; return; }
    if (document.querySelector("form.edit")) {
      if (note) {
        note.textContent = "Changed elsewhere since this form opened: saving keeps both your edit and that change.";
        note.hidden = false;
      }
      return;
    }
    var live = document.querySelectorAll("[data-live][id]");
    if (live.length === 0) return;
    busy = true;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        live.forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh) el.innerHTML = fresh.innerHTML;
        });
        var s = doc.body.getAttribute("data-seq");
        if (s !== null) document.body.setAttribute("data-seq", s);
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var events = new EventSource("/events");
  events.onmessage = function (ev) {
    if (ev.data === seq) return;
    seq = ev.data;
    refresh();
  };
})();
