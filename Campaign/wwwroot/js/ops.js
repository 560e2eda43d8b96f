// The dashboard refreshes its charts every 30 s without reloading the page (GET /ops/charts),
// until the operator pauses it.
(function () {
  var charts = document.getElementById("ops-charts");
  var pause = document.getElementById("ops-pause");
  if (!charts || !pause) return;
  var paused = false;

  function refresh() {
    if (paused) return;
    fetch("/ops/charts", { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        charts.innerHTML = html;
      })
      .catch(function () {
        // Kept as it is; the next refresh tries again.
      });
  }

  pause.addEventListener("click", function () {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? pause.dataset.resume : pause.dataset.pause;
    if (!paused) refresh();
  });
  setInterval(refresh, Number(charts.dataset.every || 30000));
})();
