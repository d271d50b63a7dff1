/*
 * Shared chart helpers for serweb pages (window.Serweb).
 *
 * Loaded with `defer` after static/vendor/chart.js/chart.umd.min.js and before the page scripts.
 * Pages never build scripts from strings: data arrives through `json_script` elements or the JSON
 * endpoints, and is read here with readJSON().
 */
(function () {
  "use strict";


  // One colour per emotion on every page (same values as .emotion--* in serweb.css).  Every pair stays
  // apart (CIELAB distance >= 28) in normal vision and in simulated protanopia, deuteranopia and
  // tritanopia (Machado et al. 2009); tests/predictions/test_palette.py checks it.
  var COLORS = {
    neutral: "#7a8285",
    calm: "#5fd08a",
    happy: "#f5d800",
    sad: "#1c1a5e",
    angry: "#e0301e",
    fearful: "#8a22c0",
    disgust: "#5c1a0a",
    surprised: "#f08ce8",
  };

  var reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function colorFor(emotion) {
    return COLORS[emotion] || "#6b7280";
  }

  /** "#rrggbb" + alpha in [0, 1] -> "rgba(r, g, b, a)". */
  function withAlpha(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + ", " + ((n >> 8) & 255) + ", " + (n & 255) + ", " + alpha + ")";
  }

  /** Parse the JSON inside a `json_script` element; null when the element is absent or invalid. */
  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    try {
      return JSON.parse(el.textContent);
    } catch (err) {
      console.error("serweb: invalid JSON in #" + id, err);
      return null;
    }
  }

  // The eight emotions in order, from the server (json_script #serweb-emotions, the {% emotions_json %}
  // tag).  Percents, clock times and rankings also come from the server (predictions/reading/verdicts.py):
  // this file formats and ranks nothing itself.
  var EMOTIONS = readJSON("serweb-emotions") || [];

  /**
   * Poll a job's status.json until `keepGoing(job)` says stop (default: until the job is finished).
   * One back-off rule for every page: 1 s while files finish, growing 1.5x (to 5 s) while nothing moves
   * and 2x after a network error; `onJob(job)` draws each answer, `onError(err)` hears each failure and
   * `onRecover()` the first answer after one.
   */
  function pollStatus(url, onJob, options) {
    options = options || {};
    var keepGoing = options.keepGoing || function (job) { return !job.finished; };
    // What counts as movement (polling speeds up again): finished files, or what the caller says.
    var progress = options.progress || function (job) { return (job.done || 0) + (job.failed || 0); };
    var delay = 1000, MAX_DELAY = 5000, last = -1, failing = false;
    function again() { window.setTimeout(poll, delay); }
    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (job) {
          if (failing && options.onRecover) options.onRecover();
          failing = false;
          onJob(job);
          if (!keepGoing(job)) return;
          var moved = progress(job) !== last;
          last = progress(job);
          delay = moved ? 1000 : Math.min(MAX_DELAY, delay * 1.5);
          again();
        })
        .catch(function (err) {
          failing = true;
          if (options.onError) options.onError(err);
          delay = Math.min(MAX_DELAY, delay * 2);
          again();
        });
    }
    poll();
  }

  /** An axis tick on the 0-1 probability scale (0, 0.2 …): "20%".  Values shown to a person come
   * formatted from the server; a tick is a position on the scale. */
  function axisPercent(v) {
    return Math.round(v * 100) + "%";
  }

  function chartAvailable() {
    return typeof window.Chart === "function";
  }

  /**
   * Chart.js sizes a responsive chart from its parent, which therefore needs its own box: wrap the
   * canvas in `.chart-box` unless the template already did.
   */
  function ensureBox(canvas, extraClass) {
    var parent = canvas.parentElement;
    if (parent && parent.classList.contains("chart-box")) {
      if (extraClass) parent.classList.add(extraClass);
      return parent;
    }
    var box = document.createElement("div");
    box.className = "chart-box" + (extraClass ? " " + extraClass : "");
    canvas.parentNode.insertBefore(box, canvas);
    box.appendChild(canvas);
    return box;
  }

  /** Give a canvas a text alternative: it becomes an image with a spoken description. */
  function describe(canvas, text) {
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", text);
    // Fallback content for agents that read canvas children instead of aria-label.
    canvas.textContent = text;
  }

  function baseOptions() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: reducedMotion ? false : { duration: 400 },
      plugins: { legend: { display: false } },
    };
  }

  if (chartAvailable()) {
    Chart.defaults.font.family =
      'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
    Chart.defaults.color = "#374151";
  }

  /**
   * Bar chart of the eight probabilities with the top emotion in full colour, the others muted.
   * `labels`, `probabilities` and `percents` (the server's "59%" for each) are parallel arrays; `top` is
   * the server's headline emotion; options.compact draws a small chart without axes (job page rows).
   * Returns the Chart, or null when Chart.js did not load.
   */
  function probabilityBarChart(canvas, labels, probabilities, percents, top, options) {
    options = options || {};
    top = Math.max(0, labels.indexOf(top));
    var summary =
      (options.compact ? "" : "Probability of each emotion. ") +
      "Top: " + labels[top] + " " + percents[top] + ". " +
      labels.map(function (l, k) { return l + " " + percents[k]; }).join(", ") + ".";
    describe(canvas, summary);
    ensureBox(canvas, options.compact ? "chart-box--mini" : "chart-box--bars");
    if (!chartAvailable()) return null;

    var bg = labels.map(function (l, k) { return withAlpha(colorFor(l), k === top ? 1 : 0.4); });
    var border = labels.map(function (l, k) { return k === top ? "#111827" : withAlpha(colorFor(l), 0.9); });
    var opts = baseOptions();
    opts.scales = {
      y: {
        display: !options.compact,
        min: 0,
        max: options.compact ? undefined : 1,
        ticks: { callback: axisPercent },
      },
      x: { display: !options.compact, grid: { display: false } },
    };
    opts.plugins.tooltip = {
      enabled: !options.compact,
      callbacks: {
        label: function (ctx) {
          return ctx.label + ": " + percents[ctx.dataIndex];
        },
      },
    };
    if (options.compact) {
      opts.animation = false;
      opts.events = [];
    }
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [{
          label: "Probability",
          data: probabilities,
          backgroundColor: bg,
          borderColor: border,
          borderWidth: labels.map(function (l, k) { return k === top ? 2 : 1; }),
          borderRadius: 3,
        }],
      },
      options: opts,
    });
  }

  /**
   * Horizontal bars: how many files got each top emotion (job and "My uploads" summaries).
   * `counts` is {emotion: n}.  Returns the Chart, or null when Chart.js did not load.
   */
  function countChart(canvas, counts) {
    var labels = EMOTIONS.filter(function (e) { return counts[e]; });
    var total = labels.reduce(function (s, e) { return s + counts[e]; }, 0);
    describe(canvas, "Top emotion of " + total + " recording" + (total === 1 ? "" : "s") + ": " +
      labels.map(function (e) { return e + " " + counts[e]; }).join(", ") + ".");
    var box = ensureBox(canvas, "chart-box--counts");
    box.style.height = (40 + 28 * Math.max(labels.length, 1)) + "px";
    if (!chartAvailable()) return null;
    var opts = baseOptions();
    opts.indexAxis = "y";
    opts.scales = {
      x: { beginAtZero: true, ticks: { precision: 0 } },
      y: { grid: { display: false } },
    };
    var chart = canvas._serwebChart;
    var data = {
      labels: labels,
      datasets: [{
        label: "Recordings",
        data: labels.map(function (e) { return counts[e]; }),
        backgroundColor: labels.map(colorFor),
        borderRadius: 3,
      }],
    };
    if (chart) {
      chart.data = data;
      chart.update();
      return chart;
    }
    canvas._serwebChart = new Chart(canvas, { type: "bar", data: data, options: opts });
    return canvas._serwebChart;
  }

  /** A <details> holding a plain table of a chart's numbers: a text alternative anyone can open. */
  function dataTable(caption, columns, rows) {
    var details = document.createElement("details");
    details.className = "chart-data";
    var summary = document.createElement("summary");
    summary.textContent = caption;
    details.appendChild(summary);
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    var table = document.createElement("table");
    var thead = table.createTHead().insertRow();
    columns.forEach(function (c) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = c;
      thead.appendChild(th);
    });
    var body = table.createTBody();
    rows.forEach(function (r) {
      var tr = body.insertRow();
      r.forEach(function (cell, k) {
        var td = document.createElement(k === 0 ? "th" : "td");
        if (k === 0) td.scope = "row";
        td.textContent = cell;
        tr.appendChild(td);
      });
    });
    wrap.appendChild(table);
    details.appendChild(wrap);
    return details;
  }

  /** Small HTML legend: one swatch per emotion. */
  function legend(emotions) {
    var ul = document.createElement("ul");
    ul.className = "legend";
    emotions.forEach(function (e) {
      var li = document.createElement("li");
      var sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = colorFor(e);
      sw.setAttribute("aria-hidden", "true");
      li.appendChild(sw);
      li.appendChild(document.createTextNode(e));
      ul.appendChild(li);
    });
    return ul;
  }

  /** Size a canvas's drawing buffer to its CSS box times the device pixel ratio; returns the 2D context. */
  function fitCanvas(canvas, cssHeight) {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth || (canvas.parentElement && canvas.parentElement.clientWidth) || 300;
    var height = cssHeight || canvas.clientHeight || 100;
    canvas.style.height = height + "px";
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx: ctx, width: width, height: height };
  }

  window.Serweb = {
    EMOTIONS: EMOTIONS,
    COLORS: COLORS,
    colorFor: colorFor,
    withAlpha: withAlpha,
    readJSON: readJSON,
    pollStatus: pollStatus,
    axisPercent: axisPercent,
    chartAvailable: chartAvailable,
    ensureBox: ensureBox,
    describe: describe,
    baseOptions: baseOptions,
    probabilityBarChart: probabilityBarChart,
    countChart: countChart,
    dataTable: dataTable,
    legend: legend,
    fitCanvas: fitCanvas,
    reducedMotion: reducedMotion,
  };
})();
