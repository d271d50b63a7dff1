/*
 * History page: doughnut of the top-emotion distribution and a stacked bar chart of emotions over time
 * (per day or week), both for the current filters.  The numbers are computed in the database and
 * arrive through json_script #history-data = {distribution: {emotion: count}, shares: {emotion: "40%"},
 * series: {bucket: "day"|"week", labels: [...], counts: {emotion: [...]}}}.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var data = S.readJSON("history-data");
  if (!data) return;

  var distribution = data.distribution || {};
  var shares = data.shares || {};  // each emotion's share of the total, as the server writes it ("40%")
  var series = data.series || { labels: [], counts: {} };
  var emotions = S.EMOTIONS.filter(function (e) { return e in distribution || e in (series.counts || {}); });
  if (!emotions.length) emotions = S.EMOTIONS.slice();
  var total = emotions.reduce(function (s, e) { return s + (distribution[e] || 0); }, 0);

  function showEmpty(canvas, message) {
    var box = S.ensureBox(canvas);
    box.classList.add("chart-box--empty");
    box.hidden = true;
    var p = document.createElement("p");
    p.className = "empty-state chart-empty";
    p.textContent = message;
    box.insertAdjacentElement("afterend", p);
  }

  // ---- doughnut -----------------------------------------------------------------------------------
  var doughnut = document.getElementById("distribution-chart");
  if (doughnut) {
    if (!total) {
      showEmpty(doughnut, data.filtered
        ? "No predictions match these filters: widen or clear them to see the distribution."
        : "No predictions yet. Upload recordings to see the distribution of their emotions.");
    } else {
      var shown = emotions.filter(function (e) { return distribution[e]; });
      S.describe(doughnut, "Top emotion of " + total + " predictions: " + shown.map(function (e) {
        return e + " " + distribution[e] + " (" + shares[e] + ")";
      }).join(", ") + ".");
      var dbox = S.ensureBox(doughnut, "chart-box--doughnut");
      dbox.insertAdjacentElement("afterend", S.dataTable("Distribution as a table", ["Emotion", "Predictions", "Share"],
        shown.map(function (e) { return [e, String(distribution[e]), shares[e]]; })));
      if (S.chartAvailable()) {
        var dopts = S.baseOptions();
        dopts.cutout = "58%";
        dopts.plugins.legend = { display: true, position: "right", labels: { boxWidth: 12 } };
        dopts.plugins.tooltip = {
          callbacks: {
            label: function (ctx) {
              return ctx.label + ": " + ctx.parsed + " (" + shares[ctx.label] + ")";
            },
          },
        };
        if (window.matchMedia("(max-width: 480px)").matches) dopts.plugins.legend.position = "bottom";
        new Chart(doughnut, {
          type: "doughnut",
          data: {
            labels: shown,
            datasets: [{
              data: shown.map(function (e) { return distribution[e]; }),
              backgroundColor: shown.map(S.colorFor),
              borderColor: "#fff",
              borderWidth: 2,
            }],
          },
          options: dopts,
        });
      }
    }
  }

  // ---- stacked bars over time ---------------------------------------------------------------------
  var bars = document.getElementById("timeseries-chart");
  if (bars) {
    var labels = series.labels || [];
    var counts = series.counts || {};
    var per = series.bucket === "week" ? "week" : "day";
    if (!labels.length || !total) {
      showEmpty(bars, data.filtered
        ? "No predictions match these filters: widen or clear them to see some over time."
        : "Nothing to plot over time yet: predictions appear here per " + per + " once recordings are analysed.");
    } else {
      var active = emotions.filter(function (e) { return (counts[e] || []).some(function (n) { return n > 0; }); });
      S.describe(bars, "Predictions per " + per + " by top emotion, " + labels[0] + " to " + labels[labels.length - 1] +
        ". " + labels.map(function (l, k) {
          var parts = active.filter(function (e) { return counts[e][k]; }).map(function (e) { return e + " " + counts[e][k]; });
          return l + ": " + (parts.length ? parts.join(", ") : "none");
        }).join("; ") + ".");
      var tbox = S.ensureBox(bars, "chart-box--timeseries");
      tbox.insertAdjacentElement("afterend", S.dataTable("Per " + per + " as a table", [per === "week" ? "Week of" : "Day"].concat(active),
        labels.map(function (l, k) { return [l].concat(active.map(function (e) { return String(counts[e][k] || 0); })); })));
      if (S.chartAvailable()) {
        var topts = S.baseOptions();
        topts.plugins.legend = { display: true, position: "bottom", labels: { boxWidth: 12 } };
        topts.plugins.tooltip = { mode: "index", intersect: false };
        topts.scales = {
          x: { stacked: true, grid: { display: false }, title: { display: true, text: per === "week" ? "Week starting" : "Day" } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Predictions" } },
        };
        new Chart(bars, {
          type: "bar",
          data: {
            labels: labels,
            datasets: active.map(function (e) {
              return { label: e, data: counts[e], backgroundColor: S.colorFor(e), borderRadius: 2, maxBarThickness: 48 };
            }),
          },
          options: topts,
        });
      }
    }
  }

  // ---- compare: the button waits for 2 to 4 ticks (the server would refuse other counts) ----------
  var compareForm = document.getElementById("compare-form");
  var compareButton = compareForm && compareForm.querySelector("button[type=submit]");
  var picks = document.querySelectorAll("input.compare-pick[form=compare-form]");
  if (compareButton && picks.length) {
    var note = compareForm.querySelector(".help");
    var update = function () {
      var n = Array.prototype.filter.call(picks, function (box) { return box.checked; }).length;
      compareButton.disabled = n < 2 || n > 4;
      if (note) note.textContent = n > 4 ? n + " ticked: compare at most 4." : "Tick 2 to 4 recordings below (" + n + " ticked).";
    };
    Array.prototype.forEach.call(picks, function (box) { box.addEventListener("change", update); });
    update();
  }
})();
