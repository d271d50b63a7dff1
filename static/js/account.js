// The account page: a copy button beside a newly created API token (shown only where the Clipboard
// API is available; the token stays selectable text everywhere).
(() => {
  "use strict";
  const button = document.getElementById("copy-token");
  if (!button || !navigator.clipboard) return;
  const source = document.getElementById(button.dataset.copy);
  const status = document.getElementById("copy-token-status");
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      status.textContent = "Copied.";
    } catch {
      status.textContent = "Could not copy: select the token and copy it yourself.";
    }
  });
})();
