/*
 * Job page: polls the job's status.json, moves the progress bar (done + failed of total, failures
 * counted apart), fills each file's row with its result and a small bar chart as it completes, shows
 * failure reasons, and stops polling once the job is finished.
 *
 * Markup: <section id="job" data-status-url data-finished>, <progress id="job-progress">, an optional
 * summary chart (#job-summary-chart), and table #job-files with <tr data-file-id> rows whose cells are
 * classed file-status (badge, a file's progress in .file-progress as status.json words it, and the reason
 * of a failure in .file-error), file-emotion (the verdict
 * line status.json carries (verdicts.verdict_html, as the rows the server renders), and a small bar chart) and file-link; they are
 * filled in place, and rows the server did not render are added with the same cells.  Polling and its
 * back-off are Serweb.pollStatus (charts.js), shared with the live recording.
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

  function cell(row, className) {
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
    ["file-status", "file-emotion", "file-link"].forEach(function (c) { cell(row, c); });
    return row;
  }

  function span(className, text) {
    var el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function renderFile(file) {
    if (!tbody) return;
    var row = tbody.querySelector('tr[data-file-id="' + file.id + '"]') || newRow(file);
    row.dataset.status = file.status;
    row.className = "status-" + file.status;
    // A file on its way changes its words ("3rd in line", "4 of 10 parts done") without changing status.
    var state = file.status + "|" + (file.progress || "");
    if (seen[file.id] === state && (file.status !== "done" || charts[file.id])) return;
    seen[file.id] = state;

    var status = cell(row, "file-status");
    status.textContent = "";
    status.appendChild(span("badge badge--" + file.status, file.status === "processing" ? "analysing…" : file.status));
    if (file.progress) {
      status.appendChild(document.createTextNode(" "));
      status.appendChild(span("file-progress", file.progress));
    }
    if (file.status === "failed") {
      status.appendChild(document.createTextNode(" "));
      status.appendChild(span("file-error error-reason", file.reason || "This file could not be analysed."));
    }

    var emotion = cell(row, "file-emotion");
    if (file.status !== "done" || !file.probabilities || !file.verdict_html) return;
    // The verdict line as the server writes it (predictions/reading/verdicts.py verdict_html): one markup.
    emotion.innerHTML = file.verdict_html;
    var canvas = document.createElement("canvas");
    canvas.className = "mini-chart";
    emotion.appendChild(canvas);
    showLegend();
    var labels = S.EMOTIONS.filter(function (e) { return e in file.probabilities; });
    charts[file.id] = S.probabilityBarChart(canvas, labels, labels.map(function (e) {
      return file.probabilities[e];
    }), labels.map(function (e) { return file.percents[e]; }), file.top_emotion, { compact: true }) || true;

    var linkCell = cell(row, "file-link");
    if (file.url && !linkCell.querySelector("a")) {
      var a = document.createElement("a");
      a.href = file.url;
      a.textContent = "Details";
      a.setAttribute("aria-label", "Details for " + file.name);
      linkCell.appendChild(a);
    }
  }

  // One legend for every mini-chart in the Result column, shown with the first of them.
  var legendBox = document.getElementById("job-legend");
  function showLegend() {
    if (!legendBox || !legendBox.hidden) return;
    legendBox.appendChild(S.legend(S.EMOTIONS));
    legendBox.hidden = false;
  }

  var summaryFigure = document.getElementById("job-summary");
  var summaryCanvas = document.getElementById("job-summary-chart");
  function renderSummary(files) {
    if (!summaryCanvas) return;
    var counts = {};
    var n = 0;
    files.forEach(function (f) {
      if (f.status === "done" && f.top_emotion) {
        counts[f.top_emotion] = (counts[f.top_emotion] || 0) + 1;
        n++;
      }
    });
    if (!n) return;
    if (summaryFigure) summaryFigure.hidden = false;
    S.countChart(summaryCanvas, counts);
  }

  // A long job: the browser's Notification API tells the person (in another tab) once it finishes.
  var notifyRow = document.getElementById("job-notify");
  var notifyButton = document.getElementById("job-notify-button");
  var notifyStatus = document.getElementById("job-notify-status");
  var notifyWanted = false;
  var notified = false;
  if (notifyRow && "Notification" in window && section.dataset.finished !== "true" && Notification.permission !== "denied") {
    notifyRow.hidden = false;
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(function (answer) {
        notifyWanted = answer === "granted";
        notifyButton.hidden = notifyWanted;
        notifyStatus.textContent = notifyWanted
          ? "Your browser will tell you when this job finishes."
          : "Your browser did not allow notifications.";
      });
    });
  }

  function announce(job) {
    if (!job.finished) return;
    if (notifyRow) notifyRow.hidden = true;
    if (!notifyWanted || notified) return;
    notified = true;
    var heading = section.querySelector("h1");
    new Notification("serweb: " + (heading ? heading.textContent : "your job") + " is finished", {
      body: text ? text.textContent : "",
    });
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
    announce(job);
    section.dataset.done = done;
    section.dataset.failed = failed;
    (job.files || []).forEach(renderFile);
    renderSummary(job.files || []);
    var statusEl = document.getElementById("job-status");
    if (statusEl) statusEl.textContent = job.status;
    var countsEl = document.getElementById("job-counts");
    if (countsEl) countsEl.textContent = done + " done, " + failed + " failed of " + total;
    if (job.finished) {
      section.dataset.finished = "true";
      section.classList.add("is-finished");
    }
    if (job.all_failed) {
      // A failure must look like one: a red bar, the notice first, and no "received" success message.
      section.classList.add("has-all-failed");
      var notice = document.getElementById("job-failed-notice");
      var count = document.getElementById("job-failed-count");
      if (count) count.textContent = failed;
      if (notice) notice.hidden = false;
      document.querySelectorAll(".message--success").forEach(function (m) { m.hidden = true; });
    }
  }

  function stopped(job) {
    if (job.finished) section.dataset.polling = "stopped";
    return !job.finished;
  }

  // This page now updates itself: the server's "reload to see progress" hint no longer applies.
  Array.prototype.forEach.call(section.querySelectorAll("p.help"), function (p) { p.hidden = true; });
  section.dataset.polling = "active";
  // Even a finished job is fetched once: the rows' little charts come from status.json.
  S.pollStatus(section.dataset.statusUrl, render, {
    keepGoing: stopped,
    onError: function (err) {
      notice.textContent = "Lost contact with the server (" + err.message + "); retrying…";
      notice.hidden = false;
    },
    onRecover: function () { notice.hidden = true; },
  });
})();
