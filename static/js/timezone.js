// Times in the viewer's zone: the log-in and sign-up forms send the browser's IANA zone (Intl API) with
// the password; a signed-in page whose stored zone differs (a new laptop, a trip) posts the new one, and
// the next page shows times in it.  The server checks the name; nothing here formats a time.
(() => {
  "use strict";
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return;
  }
  if (!zone) return;
  for (const input of document.querySelectorAll('input[type="hidden"][name="time_zone"]')) input.value = zone;

  const body = document.body;
  const url = body.dataset.timeZoneUrl;
  if (!url || body.dataset.timeZone === zone) return;
  const token = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1];
  if (!token) return;
  fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": decodeURIComponent(token) },
    body: new URLSearchParams({ time_zone: zone }),
  }).then((response) => {
    if (response.ok) body.dataset.timeZone = zone;
  }, () => {});
})();
