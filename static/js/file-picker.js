/* The browser labels its file picker in the browser's language ("Choose File" on an English
   Chromium, whatever the page's language). Where JavaScript runs, the native control is
   covered by a button and a line in the page's language; without it the native control stays.
   Texts come from data attributes the template fills from the catalogs. */
(function () {
  "use strict";
  document.querySelectorAll(".file-picker input[type=file]").forEach(function (input) {
    var wrapper = input.parentNode;
    var button = document.createElement("span");
    button.className = "button secondary file-picker-button";
    button.setAttribute("aria-hidden", "true");
    button.textContent = input.dataset.buttonText;
    var name = document.createElement("span");
    name.className = "file-picker-name";
    name.setAttribute("aria-live", "polite");
    name.textContent = input.dataset.noneText;
    wrapper.appendChild(button);
    wrapper.appendChild(name);
    wrapper.classList.add("enhanced");
    input.addEventListener("change", function () {
      name.textContent = input.files.length ? input.files[0].name : input.dataset.noneText;
    });
  });
})();
