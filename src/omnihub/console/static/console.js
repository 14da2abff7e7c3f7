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
