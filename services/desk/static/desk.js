// htmx sends the page's CSRF token with every request it makes (forms carry their own).
document.addEventListener("htmx:configRequest", function (event) {
  var token = document.querySelector('meta[name="csrf-token"]');
  if (token) { event.detail.headers["X-CSRFToken"] = token.content; }
});

// A form that changes something is sent once: a second click or Enter while the first
// is on its way does nothing (the server books once per form either way).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.method !== "post") { return; }
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
});
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-sent]").forEach(function (form) {
    delete form.dataset.sent;
  });
});

// The day changed elsewhere and its timeline was swapped in: say so to screen readers.
document.addEventListener("htmx:afterSwap", function (event) {
  var note = document.getElementById("live-note");
  if (note && event.detail.target.id === "live") {
    note.textContent = "The day was updated at " + new Date().toLocaleTimeString() + ".";
  }
});
