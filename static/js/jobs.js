/*
 * "My uploads": the summary chart of top emotions over all the user's analysed recordings.
 * Data: json_script #jobs-data = {emotion: count}.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var counts = S.readJSON("jobs-data");
  var canvas = document.getElementById("jobs-summary-chart");
  if (!counts || !canvas) return;
  var total = S.EMOTIONS.reduce(function (s, e) { return s + (counts[e] || 0); }, 0);
  if (!total) {
    canvas.closest("figure").hidden = true;
    return;
  }
  S.countChart(canvas, counts);
})();
