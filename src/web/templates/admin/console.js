// Progressive enhancement for the admin console: a copy button beside a
// secret shown once. Everything works without it.
document.querySelectorAll("button[data-copy]").forEach(function (b) {
  var field = document.getElementById(b.getAttribute("data-copy"));
  if (!field || !navigator.clipboard) { return; }
  b.hidden = false;
  b.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () {
      b.textContent = "Copied";
    }, function () {
      field.select();
    });
  });
});
