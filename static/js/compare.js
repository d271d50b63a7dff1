/*
 * Compare page: the recordings' eight probabilities as grouped bars, and one chosen emotion's
 * probability over time (seconds) as one line per recording.  Recordings are told apart by colour and
 * by line style (solid, dashed, dotted, dash-dot), so the overlay reads without colour vision too.
 *
 * Data: json_script #compare-data = {labels: [emotion], items: [{name, url, verdict, probabilities:
 * [p per label], percents: ["59%" per label], duration_s, timeline: [{start_s, end_s, span, probabilities:
 * {emotion: p}, percents: {emotion: "59%"}}]}]}: the server formats every percent and time.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var data = S.readJSON("compare-data");
  if (!data || !data.items) return;
  var SERIES = ["#111827", "#d55e00", "#0072b2", "#009e73"];
  var DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];
  var labels = data.labels;
  var items = data.items;

  var bars = document.getElementById("compare-bars");
  if (bars) {
    S.describe(bars, "Probability of each emotion. " + items.map(function (it) {
      return it.name + ": " + labels.map(function (l, k) { return l + " " + it.percents[k]; }).join(", ");
    }).join(". ") + ".");
    S.ensureBox(bars, "chart-box--bars");
    if (S.chartAvailable()) {
      var opts = S.baseOptions();
      opts.plugins.legend = { display: true };
      opts.scales = { y: { min: 0, max: 1, ticks: { callback: S.axisPercent } } };
      opts.plugins.tooltip = { callbacks: { label: function (ctx) {
        return ctx.dataset.label + ": " + items[ctx.datasetIndex].percents[ctx.dataIndex];
      } } };
      new Chart(bars, {
        type: "bar",
        data: {
          labels: labels,
          datasets: items.map(function (it, k) {
            return { label: it.name, data: it.probabilities, backgroundColor: S.withAlpha(SERIES[k], 0.75),
              borderColor: SERIES[k], borderWidth: 1 };
          }),
        },
        options: opts,
      });
    }
  }

  var select = document.getElementById("compare-emotion");
  var canvas = document.getElementById("compare-timeline");
  if (!select || !canvas) return;
  labels.forEach(function (l) {
    var o = document.createElement("option");
    o.value = l;
    o.textContent = l;
    select.appendChild(o);
  });
  select.value = items[0].verdict.top_emotion;
  S.ensureBox(canvas, "chart-box--timeseries");
  var chart = null;

  function points(it, emotion) {
    // One window (or none) is the overall result again: a flat line across the recording.
    var tl = Array.isArray(it.timeline) && it.timeline.length > 1 ? it.timeline : null;
    if (!tl) {
      var k = labels.indexOf(emotion);
      var p = it.probabilities[k];
      return [{ x: 0, y: p, at: "0:00", label: it.percents[k] }, { x: it.duration_s, y: p, at: "", label: it.percents[k] }];
    }
    return tl.map(function (w) {
      return { x: (w.start_s + w.end_s) / 2, y: w.probabilities[emotion] || 0, at: w.span, label: w.percents[emotion] };
    });
  }

  function draw() {
    var emotion = select.value;
    var series = items.map(function (it) { return points(it, emotion); });
    canvas.dataset.series = String(series.length);
    S.describe(canvas, "Probability of " + emotion + " over time. " + items.map(function (it, k) {
      return it.name + ": " + series[k].map(function (pt) { return (pt.at ? pt.at + " " : "") + pt.label; }).join(", ");
    }).join(". ") + ".");
    if (!S.chartAvailable()) return;
    var datasets = items.map(function (it, k) {
      return { label: it.name, data: series[k], borderColor: SERIES[k], backgroundColor: SERIES[k],
        borderDash: DASHES[k], pointRadius: 2, tension: 0.2, fill: false };
    });
    if (chart) {
      chart.data.datasets = datasets;
      chart.update();
      return;
    }
    var opts = S.baseOptions();
    opts.plugins.legend = { display: true };
    opts.scales = {
      x: { type: "linear", min: 0, title: { display: true, text: "seconds" } },
      y: { min: 0, max: 1, ticks: { callback: S.axisPercent } },
    };
    chart = new Chart(canvas, { type: "line", data: { datasets: datasets }, options: opts });
  }
  select.addEventListener("change", draw);
  draw();
})();
