/*
 * Prediction page: probability bar chart, waveform under the audio player with a playback cursor,
 * and (for recordings longer than one window) a timeline of emotions per window that seeks on click.
 *
 * Data: json_script #prediction-data = {labels, probabilities, percents ("59%" per label), top_emotion,
 * confidence, duration_s, uncertain, uncertain_reason, speech_s (null without a speech detector),
 * envelope: [[min, max], ...], timeline: [{start_s, end_s, probabilities: {emotion: p}, span: "0:04-0:08",
 * ranked: [[emotion, "59%"], ...], percents: {emotion: "59%"}}]}: the server ranks and formats.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var data = S.readJSON("prediction-data");
  if (!data) return;

  var audio = document.getElementById("prediction-audio");
  var waveCanvas = document.getElementById("waveform-canvas");
  var timeCanvas = document.getElementById("timeline-canvas");
  var barCanvas = document.getElementById("probability-chart");
  var labels = data.labels || S.EMOTIONS;
  var timeline = Array.isArray(data.timeline) ? data.timeline : [];
  var envelope = Array.isArray(data.envelope) ? data.envelope : [];

  // ---- probability bars -------------------------------------------------------------------------
  if (barCanvas && Array.isArray(data.probabilities)) {
    S.probabilityBarChart(barCanvas, labels, data.probabilities, data.percents, data.top_emotion);
  }
  var table = document.getElementById("probability-table");
  if (table && data.top_emotion) {
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
      var emotion = tr.dataset.emotion || tr.textContent.trim().split(/\s+/)[0].toLowerCase();
      if (emotion === data.top_emotion) tr.classList.add("is-top");
    });
  }

  // ---- shared time axis -------------------------------------------------------------------------
  function duration() {
    if (typeof data.duration_s === "number" && data.duration_s > 0) return data.duration_s;
    if (audio && isFinite(audio.duration) && audio.duration > 0) return audio.duration;
    if (timeline.length) return timeline[timeline.length - 1].end_s;
    return 0;
  }
  function currentTime() {
    return audio ? audio.currentTime || 0 : 0;
  }
  function seekToFraction(fraction) {
    var d = duration();
    if (!audio || !d) return;
    audio.currentTime = Math.min(d, Math.max(0, fraction * d));
    redraw();
  }
  function fractionFromEvent(canvas, event) {
    var rect = canvas.getBoundingClientRect();
    return rect.width ? (event.clientX - rect.left) / rect.width : 0;
  }
  function keySeek(event) {
    if (!audio) return;
    var step = event.shiftKey ? 10 : 2;
    if (event.key === "ArrowRight") audio.currentTime = Math.min(duration(), currentTime() + step);
    else if (event.key === "ArrowLeft") audio.currentTime = Math.max(0, currentTime() - step);
    else if (event.key === "Home") audio.currentTime = 0;
    else if (event.key === " " || event.key === "Enter") {
      if (audio.paused) audio.play(); else audio.pause();
    } else return;
    event.preventDefault();
    redraw();
  }

  function drawCursor(ctx, width, height) {
    var d = duration();
    if (!d) return;
    var x = Math.round((currentTime() / d) * width) + 0.5;
    ctx.strokeStyle = "#dc2626";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, height);
    ctx.stroke();
  }

  // ---- waveform -----------------------------------------------------------------------------------
  var WAVE_HEIGHT = 96;
  var peak = envelope.reduce(function (m, p) { return Math.max(m, Math.abs(p[0]), Math.abs(p[1])); }, 0);

  function drawWaveform() {
    if (!waveCanvas) return;
    var fit = S.fitCanvas(waveCanvas, WAVE_HEIGHT);
    var ctx = fit.ctx, w = fit.width, h = fit.height, mid = h / 2;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#d1d5db";
    ctx.beginPath();
    ctx.moveTo(0, mid + 0.5);
    ctx.lineTo(w, mid + 0.5);
    ctx.stroke();
    if (!envelope.length) return;
    // Louder recordings fill the height; very quiet ones are not blown up into noise.
    var scale = (h / 2 - 4) / Math.max(peak, 0.05);
    var d = duration();
    var playedX = d ? (currentTime() / d) * w : 0;
    var n = envelope.length;
    for (var x = 0; x < w; x++) {
      var a = Math.floor((x * n) / w);
      var b = Math.max(a + 1, Math.floor(((x + 1) * n) / w));
      var lo = 0, hi = 0;
      for (var i = a; i < b && i < n; i++) {
        if (envelope[i][0] < lo) lo = envelope[i][0];
        if (envelope[i][1] > hi) hi = envelope[i][1];
      }
      var top = mid - hi * scale, bottom = mid - lo * scale;
      ctx.fillStyle = x < playedX ? "#1d4ed8" : "#60a5fa";
      ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
    drawCursor(ctx, w, h);
  }

  // ---- timeline -----------------------------------------------------------------------------------
  var AXIS = 20;  // bottom strip: the time axis in seconds
  var TIMELINE_HEIGHT = 88 + AXIS;
  var BAND = 14;  // top strip: the top emotion of each window

  /** A tick step (s) giving about one label per 80 px: 1, 2, 5, 10, 15, 30, 60, 120, 300, 600 … */
  function tickStep(d, w) {
    var steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800];
    var want = d / Math.max(1, w / 80);
    for (var i = 0; i < steps.length; i++) if (steps[i] >= want) return steps[i];
    return 3600;
  }

  function drawAxis(ctx, w, h, d) {
    var y = h - AXIS;
    ctx.strokeStyle = "#6b7280";
    ctx.fillStyle = "#374151";
    ctx.lineWidth = 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.beginPath();
    ctx.moveTo(0, y + 0.5);
    ctx.lineTo(w, y + 0.5);
    ctx.stroke();
    var step = tickStep(d, w);
    for (var t = 0; t <= d + 1e-6; t += step) {
      var x = Math.round((t / d) * (w - 1)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x, y + 4);
      ctx.stroke();
      var label = (step < 1 ? t.toFixed(1) : String(Math.round(t))) + " s";
      var width = ctx.measureText(label).width;
      ctx.textAlign = x + width / 2 > w ? "right" : x - width / 2 < 0 ? "left" : "center";
      ctx.fillText(label, x, y + 5);
    }
  }

  // Each window arrives ranked by the server (readmodel.window_views): [[emotion, "59%"], ...].
  function topOf(win) {
    return win.ranked[0][0];
  }

  function drawTimeline() {
    if (!timeCanvas || !timeline.length) return;
    var fit = S.fitCanvas(timeCanvas, TIMELINE_HEIGHT);
    var ctx = fit.ctx, w = fit.width, h = fit.height;
    var d = duration();
    if (!d) return;
    ctx.clearRect(0, 0, w, h);
    var xOf = function (t) { return (Math.min(d, Math.max(0, t)) / d) * w; };

    // Band of the top emotion per window.  Overlapping windows: a later window starts where the
    // previous one's centre-to-centre midpoint is, so the band tiles the time axis.
    timeline.forEach(function (win, k) {
      var start = k === 0 ? 0 : (timeline[k - 1].start_s + timeline[k - 1].end_s + win.start_s + win.end_s) / 4;
      var end = k === timeline.length - 1 ? d
        : (win.start_s + win.end_s + timeline[k + 1].start_s + timeline[k + 1].end_s) / 4;
      // Whole pixels, so neighbouring windows of the same emotion meet without a hairline seam.
      var x0 = Math.round(xOf(start)), x1 = Math.round(xOf(end));
      ctx.fillStyle = S.colorFor(topOf(win));
      ctx.fillRect(x0, 0, Math.max(1, x1 - x0), BAND);
    });

    // Stacked area of all eight probabilities at each window's centre.
    var areaTop = BAND + 4, areaH = h - AXIS - areaTop;
    var xs = timeline.map(function (win) { return xOf((win.start_s + win.end_s) / 2); });
    xs[0] = 0;
    xs[xs.length - 1] = w;
    if (xs.length === 1) xs = [0, w];
    var points = timeline.length === 1 ? [timeline[0], timeline[0]] : timeline;
    var below = points.map(function () { return 0; });
    labels.forEach(function (l) {
      var above = points.map(function (win, k) { return below[k] + (win.probabilities[l] || 0); });
      ctx.beginPath();
      xs.forEach(function (x, k) {
        var y = areaTop + areaH * (1 - Math.min(1, above[k]));
        if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      for (var k = xs.length - 1; k >= 0; k--) ctx.lineTo(xs[k], areaTop + areaH * (1 - Math.min(1, below[k])));
      ctx.closePath();
      ctx.fillStyle = S.withAlpha(S.colorFor(l), 0.85);
      ctx.fill();
      below = above;
    });
    drawAxis(ctx, w, h, d);
    drawCursor(ctx, w, h - AXIS);
  }

  function windowAt(t) {
    for (var k = 0; k < timeline.length; k++) if (t >= timeline[k].start_s && t < timeline[k].end_s) return timeline[k];
    return timeline.length ? timeline[timeline.length - 1] : null;
  }

  function describeTimeline() {
    var parts = timeline.map(function (win) {
      return win.span + " " + win.ranked[0][0] + " " + win.ranked[0][1];
    });
    S.describe(timeCanvas, "Emotion timeline, " + timeline.length + " windows. Top emotion per window: " +
      parts.join("; ") + ". Click a point to play from there.");
  }

  // ---- wiring -------------------------------------------------------------------------------------
  var frame = null;
  function redraw() {
    drawWaveform();
    drawTimeline();
  }
  function tick() {
    redraw();
    frame = audio && !audio.paused ? window.requestAnimationFrame(tick) : null;
  }

  if (waveCanvas) {
    S.describe(waveCanvas, "Waveform of the recording, " + duration().toFixed(1) +
      " seconds. Click to play from a point; arrow keys move 2 seconds.");
    waveCanvas.tabIndex = 0;
    waveCanvas.classList.add("seekable");
    waveCanvas.addEventListener("click", function (e) { seekToFraction(fractionFromEvent(waveCanvas, e)); });
    waveCanvas.addEventListener("keydown", keySeek);
  }

  if (timeCanvas && timeline.length) {
    describeTimeline();
    timeCanvas.tabIndex = 0;
    timeCanvas.classList.add("seekable");
    timeCanvas.addEventListener("click", function (e) { seekToFraction(fractionFromEvent(timeCanvas, e)); });
    timeCanvas.addEventListener("keydown", keySeek);
    var readout = document.createElement("p");
    readout.className = "timeline-readout muted";
    readout.setAttribute("aria-live", "polite");
    readout.textContent = "Point at the timeline to see each window; click to play from there.";
    timeCanvas.addEventListener("mousemove", function (e) {
      var t = fractionFromEvent(timeCanvas, e) * duration();
      var win = windowAt(t);
      if (!win) return;
      readout.textContent = "Window " + win.span + ": " +
        win.ranked.slice(0, 3).map(function (pair) { return pair[0] + " " + pair[1]; }).join(", ");
    });
    timeCanvas.insertAdjacentElement("afterend", readout);
    readout.insertAdjacentElement("afterend", S.legend(labels));
  }

  // Segment list: each button plays its stretch of the recording.
  Array.prototype.forEach.call(document.querySelectorAll("#segments .segment"), function (button) {
    button.addEventListener("click", function () {
      if (!audio) return;
      audio.currentTime = parseFloat(button.dataset.start) || 0;
      var playing = audio.play();
      if (playing && playing.catch) playing.catch(function () { /* autoplay refused: the seek stands */ });
      redraw();
    });
  });

  if (audio) {
    ["play", "seeked", "timeupdate", "loadedmetadata", "pause", "ended"].forEach(function (name) {
      audio.addEventListener(name, function () {
        if (!audio.paused && frame === null) tick(); else if (audio.paused) redraw();
      });
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(redraw, 100);
  });
  redraw();
})();
