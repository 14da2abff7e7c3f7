// omnihub console: small behaviours on top of htmx. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";
  // htmx requests carry the session's CSRF token (forms carry it as a hidden field).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
  });
  // A live list must not swap away what someone is typing (a pickup code): skip that refresh.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var active = document.activeElement;
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute("hx-trigger") && active && active.tagName === "INPUT" && elt.contains(active)) {
      event.preventDefault();
    }
  });
  // Auto-submitting selects (progressive: the form still has its own submit button).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]")) { target.form.requestSubmit(); }
  });
})();

// Dashboard charts: the data sits in a JSON block (not executed, so the CSP allows it); each chart also has its
// table behind a toggle, so nothing is only in the picture.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var block = document.getElementById("charts-data");
  if (!block || typeof Chart === "undefined") { return; }
  var data = JSON.parse(block.textContent);
  var palette = ["#0b5cad", "#b35900", "#116329", "#8250df", "#a40e26", "#1b7c83", "#6e7781"];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var chart = data[canvas.getAttribute("data-chart")];
    if (!chart) { return; }
    new Chart(canvas, {
      type: "line",
      data: {
        labels: chart.labels,
        datasets: chart.datasets.map(function (d, i) {
          return {label: d.label, data: d.data.map(Number), borderColor: palette[i % palette.length],
                  backgroundColor: palette[i % palette.length], tension: 0.2};
        })
      },
      options: {animation: false, responsive: true, plugins: {legend: {position: "bottom"}}}
    });
  });
});
