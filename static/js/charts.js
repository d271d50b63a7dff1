/*
 * Shared chart helpers for serweb pages (window.Serweb).
 *
 * Loaded with `defer` after static/vendor/chart.js/chart.umd.min.js and before the page scripts.
 * Pages never build scripts from strings: data arrives through `json_script` elements or the JSON
 * endpoints, and is read here with readJSON().
 */
(function () {
  "use strict";

  var EMOTIONS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

  // One colour per emotion on every page (Okabe–Ito based, distinguishable with common colour blindness).
  var COLORS = {
    neutral: "#8a8f98",
    calm: "#56b4e9",
    happy: "#e6a700",
    sad: "#0072b2",
    angry: "#d55e00",
    fearful: "#7b4fa0",
    disgust: "#009e73",
    surprised: "#cc79a7",
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

  /** 0.61234 -> "61.2%". */
  function pct(p, digits) {
    if (typeof p !== "number" || !isFinite(p)) return "–";
    return (p * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }

  /** 125.4 -> "2:05". */
  function clock(seconds) {
    if (!isFinite(seconds) || seconds < 0) seconds = 0;
    var m = Math.floor(seconds / 60);
    var s = Math.floor(seconds % 60);
    return m + ":" + (s < 10 ? "0" : "") + s;
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
   * `labels` and `probabilities` are parallel arrays; options.compact draws a small chart without axes
   * (job page rows).  Returns the Chart, or null when Chart.js did not load.
   */
  function probabilityBarChart(canvas, labels, probabilities, options) {
    options = options || {};
    var top = 0;
    for (var i = 1; i < probabilities.length; i++) if (probabilities[i] > probabilities[top]) top = i;
    var summary =
      (options.compact ? "" : "Probability of each emotion. ") +
      "Top: " + labels[top] + " " + pct(probabilities[top]) + ". " +
      labels.map(function (l, k) { return l + " " + pct(probabilities[k]); }).join(", ") + ".";
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
        ticks: { callback: function (v) { return Math.round(v * 100) + "%"; } },
      },
      x: { display: !options.compact, grid: { display: false } },
    };
    opts.plugins.tooltip = {
      enabled: !options.compact,
      callbacks: {
        label: function (ctx) {
          return ctx.label + ": " + pct(ctx.parsed.y, 2) + " (p = " + ctx.parsed.y.toFixed(4) + ")";
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
    pct: pct,
    clock: clock,
    chartAvailable: chartAvailable,
    ensureBox: ensureBox,
    describe: describe,
    baseOptions: baseOptions,
    probabilityBarChart: probabilityBarChart,
    dataTable: dataTable,
    legend: legend,
    fitCanvas: fitCanvas,
    reducedMotion: reducedMotion,
  };
})();
