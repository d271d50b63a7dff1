// Phones: the header's links fold behind a "Menu" button.  Without this script nothing folds (the CSS
// collapses the menu only once the header has the `has-menu` class), so the links are never out of reach.
(() => {
  "use strict";
  const button = document.getElementById("menu-toggle");
  const header = button && button.closest(".site-header");
  if (!header) return;
  header.classList.add("has-menu");
  button.hidden = false;
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    header.classList.toggle("is-open", open);
  });
})();
