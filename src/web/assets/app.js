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
