/*
 * Job page: polls the job's status.json, moves the progress bar (done + failed of total, failures
 * counted apart), fills each file's row with its result and a small bar chart as it completes, shows
 * failure reasons, and stops polling once the job is finished.
 *
 * Markup: <section id="job" data-status-url data-finished>, <progress id="job-progress">, table
 * #job-files with <tr data-file-id> rows whose cells are classed file-status, file-error, file-emotion,
 * file-confidence and prob (data-emotion); they are filled in place, and rows the server did not
 * render are added with the same cells.  A result the model itself marked uncertain gets an "uncertain"
 * badge (reason in its title and for screen readers) after the emotion.
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

  var probHeads = table ? Array.prototype.map.call(table.querySelectorAll("thead th.prob"), function (th) {
    return th.textContent.trim();
  }) : [];

  function td(row, className) {
    var el = row.querySelector("." + className);
    if (!el) {
      el = document.createElement("td");
      el.className = className;
      row.appendChild(el);
    }
    return el;
  }

  /** A row the server did not render (a file added after the page loaded): same cells as the template. */
  function newRow(file) {
    var row = tbody.insertRow();
    row.dataset.fileId = file.id;
    var name = document.createElement("th");
    name.scope = "row";
    name.className = "file-name";
    name.textContent = file.name;
    row.appendChild(name);
    ["file-status", "file-error", "file-emotion", "file-confidence"].forEach(function (c) { td(row, c); });
    probHeads.forEach(function (e) {
      var cellEl = row.insertCell();
      cellEl.className = "prob";
      cellEl.dataset.emotion = e;
    });
    row.insertCell().className = "file-link";
    return row;
  }

  /** The model's doubt about a result: same markup as templates/predictions/_uncertain_badge.html. */
  function uncertainBadge(reason) {
    var badge = document.createElement("span");
    badge.className = "badge badge--uncertain";
    badge.textContent = "uncertain";
    if (reason) {
      badge.title = reason;
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = ": " + reason;
      badge.appendChild(hidden);
    }
    return badge;
  }

  function renderFile(file) {
    if (!tbody) return;
    var row = tbody.querySelector('tr[data-file-id="' + file.id + '"]') || newRow(file);
    row.dataset.status = file.status;
    row.className = "status-" + file.status;
    if (seen[file.id] === file.status && (file.status !== "done" || charts[file.id])) return;
    seen[file.id] = file.status;

    var status = td(row, "file-status");
    status.textContent = "";
    var badge = document.createElement("span");
    badge.className = "badge badge--" + file.status;
    badge.textContent = file.status === "processing" ? "analysing…" : file.status;
    status.appendChild(badge);

    var error = td(row, "file-error");
    error.textContent = file.status === "failed" ? (file.error || "This file could not be analysed.") : "";
    error.classList.toggle("error-reason", file.status === "failed");

    var emotion = td(row, "file-emotion");
    if (file.status !== "done" || !file.probabilities) return;
    emotion.textContent = "";
    var label = document.createElement("span");
    label.className = "emotion emotion--" + file.top_emotion;
    label.textContent = file.top_emotion;
    emotion.appendChild(label);
    if (file.uncertain) emotion.appendChild(uncertainBadge(file.uncertain_reason));
    var canvas = document.createElement("canvas");
    canvas.className = "mini-chart";
    emotion.appendChild(canvas);
    var labels = S.EMOTIONS.filter(function (e) { return e in file.probabilities; });
    table.classList.add("has-mini-charts");
    charts[file.id] = S.probabilityBarChart(canvas, labels, labels.map(function (e) {
      return file.probabilities[e];
    }), { compact: true }) || true;

    td(row, "file-confidence").textContent = typeof file.confidence === "number" ? file.confidence.toFixed(3) : "";
    Array.prototype.forEach.call(row.querySelectorAll("td.prob[data-emotion]"), function (c) {
      var p = file.probabilities[c.dataset.emotion];
      c.textContent = typeof p === "number" ? p.toFixed(3) : "";
    });
    var linkCell = row.cells[row.cells.length - 1];
    if (file.url && linkCell && !linkCell.querySelector("a")) {
      var a = document.createElement("a");
      a.href = file.url;
      a.textContent = "Details";
      a.setAttribute("aria-label", "Details for " + file.name);
      linkCell.appendChild(a);
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
    var countsEl = document.getElementById("job-counts");
    if (countsEl) countsEl.textContent = done + " done, " + failed + " failed of " + total;
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

  // This page now updates itself: the server's "reload to see progress" hint no longer applies.
  Array.prototype.forEach.call(section.querySelectorAll("p.help"), function (p) { p.hidden = true; });
  section.dataset.polling = "active";
  // Even a finished job is fetched once: the rows' little charts come from status.json.
  poll();
})();
