// The person form checks an ID number as soon as it is typed: birth date and sex, or what is
// wrong. The check's address comes from #id-check's data-url; the input is rendered by the
// shared field template, so the htmx attributes are added here.
document.addEventListener("htmx:load", function () {
  var input = document.getElementById("id_id_number");
  var target = document.getElementById("id-check");
  if (!input || !target || input.dataset.checked) return;
  input.dataset.checked = "1";
  input.setAttribute("hx-post", target.dataset.url);
  input.setAttribute("hx-trigger", "change, keyup changed delay:400ms");
  input.setAttribute("hx-target", "#id-check");
  input.setAttribute("hx-swap", "innerHTML");
  htmx.process(input);
});
