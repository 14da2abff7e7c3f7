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
      type: chart.type || "line",
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

// Store counter: hand a pickup over by scanning the QR code the customer shows (omnihub:pickup:NUMBER:CODE, the
// image the API draws at /orders/{id}/pickup/qr.png). The browser's BarcodeDetector where it has one, else the
// vendored jsQR on camera frames; without a camera the section stays hidden and typing the code works as always.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var section = document.getElementById("scan");
  if (!section || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
  var hasDetector = "BarcodeDetector" in window;
  if (!hasDetector && typeof jsQR === "undefined") { return; }
  section.hidden = false;
  var video = document.getElementById("scan-video");
  var start = document.getElementById("scan-start");
  var stop = document.getElementById("scan-stop");
  var status = document.getElementById("scan-status");
  var stream = null;
  var canvas = document.createElement("canvas");
  var detector = hasDetector ? new window.BarcodeDetector({formats: ["qr_code"]}) : null;

  function halt() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null; video.hidden = true; stop.hidden = true; start.hidden = false;
  }

  function found(text) {
    var parts = String(text).split(":");
    if (parts.length !== 4 || parts[0] !== "omnihub" || parts[1] !== "pickup") { return false; }
    var card = document.querySelector('#ready li.card[data-order="' + CSS.escape(parts[2]) + '"]');
    if (!card) { status.textContent = status.getAttribute("data-not-here"); return true; }
    var input = card.querySelector('input[name="code"]');
    input.value = parts[3];
    halt();
    input.form.requestSubmit();
    return true;
  }

  function tick() {
    if (!stream) { return; }
    if (video.readyState < 2) { window.requestAnimationFrame(tick); return; }
    if (detector) {
      detector.detect(video).then(function (codes) {
        if (!(codes.length && found(codes[0].rawValue))) { window.setTimeout(tick, 150); }
      }).catch(function () { window.setTimeout(tick, 300); });
      return;
    }
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    var ctx = canvas.getContext("2d", {willReadFrequently: true});
    ctx.drawImage(video, 0, 0);
    var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    var code = jsQR(image.data, image.width, image.height, {inversionAttempts: "dontInvert"});
    if (!(code && found(code.data))) { window.setTimeout(tick, 150); }
  }

  start.addEventListener("click", function () {
    status.textContent = "";
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}}).then(function (s) {
      stream = s; video.srcObject = s; video.hidden = false; stop.hidden = false; start.hidden = true;
      video.play(); tick();
    }).catch(function () { status.textContent = status.getAttribute("data-no-camera"); });
  });
  stop.addEventListener("click", halt);
  // exposed for the browser test, which has no camera: the same path a decoded frame takes
  window.omnihubPickupScanned = found;
});
