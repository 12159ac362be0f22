// Drag and drop for the verification form: a dropped file goes into the file input.
(function () {
  "use strict";
  var drop = document.getElementById("drop");
  var input = document.getElementById("file");
  var name = document.getElementById("drop-name");
  if (!drop || !input) { return; }
  function show() { name.textContent = input.files && input.files.length ? input.files[0].name : ""; }
  ["dragenter", "dragover"].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
  });
  input.addEventListener("change", show);
})();
