/*
 * Admin, model version page: per-class accuracy bar chart and confusion-matrix shading.
 * Data: json_script #model-metrics-data (the bundle's Metrics.to_dict(), with per_class_percents and
 * accuracy_label formatted by the server); the tables are rendered by the server,
 * so everything here is an enhancement.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var metrics = S.readJSON("model-metrics-data");
  if (!metrics) return;

  // ---- per-class accuracy -------------------------------------------------------------------------
  var canvas = document.getElementById("per-class-chart");
  var perClass = metrics.per_class_accuracy || {};
  var percents = metrics.per_class_percents || {};  // as the server writes them ("59%")
  var labels = (metrics.labels || S.EMOTIONS).filter(function (e) { return e in perClass; });
  if (canvas && labels.length) {
    var values = labels.map(function (e) { return perClass[e]; });
    S.describe(canvas, "Accuracy per emotion: " + labels.map(function (e, k) { return e + " " + percents[e]; }).join(", ") + ".");
    S.ensureBox(canvas, "chart-box--admin");
    if (S.chartAvailable()) {
      var opts = S.baseOptions();
      opts.indexAxis = "y";
      opts.scales = {
        x: { min: 0, max: 1, ticks: { callback: S.axisPercent } },
        y: { grid: { display: false } },
      };
      opts.plugins.tooltip = { callbacks: { label: function (ctx) { return "accuracy " + percents[ctx.label]; } } };
      if (metrics.accuracy_label) {
        opts.plugins.subtitle = { display: true, text: "overall accuracy " + metrics.accuracy_label };
      }
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: labels,
          datasets: [{ label: "Accuracy", data: values, backgroundColor: labels.map(S.colorFor), borderRadius: 3 }],
        },
        options: opts,
      });
    }
  }

  // ---- confusion matrix heatmap -------------------------------------------------------------------
  // Shade each cell by its share of the row (recall view), so rare classes are as readable as common ones.
  var table = document.getElementById("confusion-matrix");
  if (table) {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var cells = row.querySelectorAll("td[data-count]");
      var total = Array.prototype.reduce.call(cells, function (s, td) { return s + (parseFloat(td.dataset.count) || 0); }, 0);
      Array.prototype.forEach.call(cells, function (td) {
        var share = total ? (parseFloat(td.dataset.count) || 0) / total : 0;
        var hue = td.classList.contains("diagonal") ? "37, 99, 235" : "220, 38, 38";
        td.style.background = "rgba(" + hue + ", " + (0.08 + 0.85 * share).toFixed(3) + ")";
        td.style.color = share > 0.55 ? "#fff" : "";
        td.title = (share * 100).toFixed(1) + "% of the row";
      });
    });
  }
})();
