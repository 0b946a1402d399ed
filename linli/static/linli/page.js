// Behaviour every page shares, kept out of the HTML so the Content-Security-Policy can forbid
// inline script: a <select data-autosubmit> sends its form when changed (the language
// switch), a link with data-back goes back in the history when there is one, and an element
// with data-remove-after-request goes once its htmx request has succeeded (a tree node's "+").
(function () {
  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-autosubmit]")) e.target.form.submit();
  });
  document.addEventListener("click", function (e) {
    var link = e.target.closest("a[data-back]");
    if (link && window.history.length > 1) {
      e.preventDefault();
      window.history.back();
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var source = e.detail.elt;
    if (e.detail.successful && source.matches("[data-remove-after-request]")) source.remove();
  });
})();
