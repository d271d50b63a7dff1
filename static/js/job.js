/*
 * Job page: polls the job's status.json, moves the progress bar (done + failed of total, failures
 * counted apart), fills each file's row with its result and a small bar chart as it completes, shows
 * failure reasons, and stops polling once the job is finished.
 *
 * Markup: <section id="job" data-status-url data-finished>, <progress id="job-progress">, table
 * #job-files with <tr data-file-id> rows.  Cells marked data-col="name|status|result|chart" are filled
 * in place; rows the server did not render are added.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var section = document.getElementById("job");
  if (!section || !section.dataset.statusUrl) return;

  var progress = document.getElementById("job-progress");
  var table = document.getElementById("job-files");
  var tbody = table ? table.tBodies[0] || table.createTBody() : null;
  var charts = {};       // file id -> Chart, so a row's chart is drawn once
  var seen = {};         // file id -> last status rendered
  var delay = 1000;      // poll interval; grows while the job is idle or the network fails
  var MAX_DELAY = 5000;
  var lastDone = -1;

  // A text twin of the progress bar, announced politely to screen readers.
  var text = document.getElementById("job-progress-text");
  if (!text && progress) {
    text = document.createElement("p");
    text.id = "job-progress-text";
    text.className = "progress-text";
    progress.insertAdjacentElement("afterend", text);
  }
  if (text) text.setAttribute("aria-live", "polite");

  var notice = document.createElement("p");
  notice.className = "notice notice--warning";
  notice.hidden = true;
  notice.setAttribute("role", "status");
  section.insertBefore(notice, section.firstChild);

  function cell(row, col, index) {
    var el = row.querySelector('[data-col="' + col + '"]');
    if (el) return el;
    return row.cells[index] || row.insertCell();
  }

  function renderFile(file) {
    if (!tbody) return;
    var row = tbody.querySelector('tr[data-file-id="' + file.id + '"]');
    if (!row) {
      row = tbody.insertRow();
      row.dataset.fileId = file.id;
      ["name", "status", "result", "chart"].forEach(function (c) { row.insertCell().dataset.col = c; });
      var empty = tbody.querySelector("tr.empty-row");
      if (empty) empty.remove();
    }
    row.dataset.status = file.status;
    if (seen[file.id] === file.status && (file.status !== "done" || charts[file.id])) return;
    seen[file.id] = file.status;

    var name = cell(row, "name", 0);
    if (!name.textContent.trim()) name.textContent = file.name;

    var status = cell(row, "status", 1);
    status.innerHTML = "";
    var badge = document.createElement("span");
    badge.className = "badge badge--" + file.status;
    badge.textContent = file.status;
    status.appendChild(badge);

    var result = cell(row, "result", 2);
    result.innerHTML = "";
    result.classList.toggle("muted", file.status === "queued" || file.status === "processing");
    if (file.status === "done") {
      var top = document.createElement(file.url ? "a" : "span");
      if (file.url) top.href = file.url;
      top.className = "emotion emotion--" + file.top_emotion;
      top.textContent = file.top_emotion + " " + S.pct(file.confidence);
      result.appendChild(top);
    } else if (file.status === "failed") {
      var reason = document.createElement("span");
      reason.className = "error-reason";
      reason.textContent = file.error || "This file could not be analysed.";
      result.appendChild(reason);
    } else {
      result.textContent = file.status === "processing" ? "Analysing…" : "Waiting…";
    }

    var chartCell = cell(row, "chart", 3);
    if (file.status === "done" && file.probabilities && !charts[file.id]) {
      chartCell.innerHTML = "";
      var canvas = document.createElement("canvas");
      canvas.className = "mini-chart";
      chartCell.appendChild(canvas);
      var labels = S.EMOTIONS.filter(function (e) { return e in file.probabilities; });
      charts[file.id] = S.probabilityBarChart(canvas, labels, labels.map(function (e) {
        return file.probabilities[e];
      }), { compact: true }) || true;
    }
  }

  function render(job) {
    var total = job.total || 0;
    var done = job.done || 0;
    var failed = job.failed || 0;
    if (progress) {
      progress.max = Math.max(total, 1);
      progress.value = done + failed;
      progress.setAttribute("aria-valuetext", (done + failed) + " of " + total + " files");
    }
    if (text) {
      text.textContent = (done + failed) + " of " + total + " files processed: " + done + " done" +
        (failed ? ", " + failed + " failed" : "") + (job.finished ? ". Finished." : "…");
    }
    section.dataset.done = done;
    section.dataset.failed = failed;
    (job.files || []).forEach(renderFile);
    var statusEl = document.getElementById("job-status");
    if (statusEl) statusEl.textContent = job.status;
    if (job.finished) {
      section.dataset.finished = "true";
      section.classList.add("is-finished");
    }
  }

  function poll() {
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (job) {
        notice.hidden = true;
        render(job);
        if (job.finished) {
          section.dataset.polling = "stopped";
          return;
        }
        // Speed back up as soon as something moved; slow down while nothing does.
        var moved = (job.done || 0) + (job.failed || 0) !== lastDone;
        lastDone = (job.done || 0) + (job.failed || 0);
        delay = moved ? 1000 : Math.min(MAX_DELAY, delay * 1.5);
        window.setTimeout(poll, delay);
      })
      .catch(function (err) {
        notice.textContent = "Lost contact with the server (" + err.message + "); retrying…";
        notice.hidden = false;
        delay = Math.min(MAX_DELAY, delay * 2);
        window.setTimeout(poll, delay);
      });
  }

  section.dataset.polling = "active";
  // Even a finished job is fetched once: the rows' little charts come from status.json.
  poll();
})();
