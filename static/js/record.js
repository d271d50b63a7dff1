/*
 * Upload page: record from the microphone.  The take is captured as PCM through the Web Audio API and
 * encoded here as 16 kHz 16-bit mono WAV, which the server reads like any upload (it does not accept
 * WebM/Opus, MediaRecorder's only Chromium format).  A level meter and the elapsed time show while
 * recording; recording stops on Stop or at the upload limit (data-max-seconds); the person can listen
 * back, then send the take (named "Recording YYYY-MM-DD HH:MM.wav") or discard it.
 *
 * Live mode: every CHUNK_S seconds the newest chunk is sent to data-live-url; all chunks of one take
 * join one job, whose status.json is polled to draw one bar per analysed chunk while the person speaks.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var section = document.getElementById("record");
  var form = document.getElementById("upload-form");
  if (!section || !form) return;
  var Context = window.AudioContext || window.webkitAudioContext;
  if (!Context || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  section.hidden = false;

  var RATE = 16000;
  var CHUNK_S = 4;
  var maxSeconds = parseInt(section.dataset.maxSeconds, 10) || 600;
  // "0:00" … for every whole second up to the limit, written by the server's clock (verdicts.clock).
  var clockLabels = S.readJSON("record-clock") || [];
  function clockLabel(seconds) {
    return clockLabels[Math.max(0, Math.min(clockLabels.length - 1, Math.floor(seconds)))] || "";
  }
  var startBtn = document.getElementById("record-start");
  var stopBtn = document.getElementById("record-stop");
  var liveBox = document.getElementById("record-live");
  var meter = document.getElementById("record-level");
  var timeEl = document.getElementById("record-time");
  var errorEl = document.getElementById("record-error");
  var take = document.getElementById("record-take");
  var preview = document.getElementById("record-preview");
  var sendBtn = document.getElementById("record-send");
  var discardBtn = document.getElementById("record-discard");
  var liveFigure = document.getElementById("record-live-figure");
  var liveCanvas = document.getElementById("record-live-canvas");

  var state = null;  // {stream, ctx, node, buffers: [Float32Array], frames, rate, started, timer, ...}
  var blob = null;
  var takeName = "";

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }

  function csrf() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function stamp(d) {
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes());
  }

  /** Float32 samples at `rate` -> 16 kHz mono 16-bit WAV (a Blob).  Averages each output sample's span. */
  function wav(samples, rate) {
    var ratio = rate / RATE;
    var n = Math.floor(samples.length / ratio);
    var buffer = new ArrayBuffer(44 + n * 2);
    var view = new DataView(buffer);
    function text(offset, s) { for (var i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); }
    text(0, "RIFF");
    view.setUint32(4, 36 + n * 2, true);
    text(8, "WAVE");
    text(12, "fmt ");
    view.setUint32(16, 16, true);
    view.setUint16(20, 1, true);
    view.setUint16(22, 1, true);
    view.setUint32(24, RATE, true);
    view.setUint32(28, RATE * 2, true);
    view.setUint16(32, 2, true);
    view.setUint16(34, 16, true);
    text(36, "data");
    view.setUint32(40, n * 2, true);
    for (var k = 0; k < n; k++) {
      var a = Math.floor(k * ratio), b = Math.max(a + 1, Math.floor((k + 1) * ratio)), sum = 0;
      for (var i = a; i < b; i++) sum += samples[i];
      var v = Math.max(-1, Math.min(1, sum / (b - a)));
      view.setInt16(44 + k * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  function joined(from) {
    var total = 0;
    state.buffers.forEach(function (b) { total += b.length; });
    var out = new Float32Array(total - from);
    var offset = 0, skip = from;
    state.buffers.forEach(function (b) {
      if (skip >= b.length) { skip -= b.length; return; }
      var part = skip ? b.subarray(skip) : b;
      skip = 0;
      out.set(part, offset);
      offset += part.length;
    });
    return out;
  }

  function elapsed() {
    return state ? state.frames / state.rate : 0;
  }

  // ---- live -------------------------------------------------------------------------------------
  function drawLive(files) {
    var done = files.filter(function (f) { return f.status === "done" && f.probabilities; });
    liveCanvas.dataset.points = String(done.length);
    var fit = S.fitCanvas(liveCanvas, 90);
    var ctx = fit.ctx, w = fit.width, h = fit.height;
    ctx.clearRect(0, 0, w, h);
    var slots = Math.max(Math.ceil(elapsed() / CHUNK_S), files.length, 1);
    var bw = w / slots;
    files.forEach(function (f, k) {
      if (f.status !== "done" || !f.probabilities) return;
      var below = 0;
      S.EMOTIONS.forEach(function (e) {
        var p = f.probabilities[e] || 0;
        ctx.fillStyle = S.colorFor(e);
        ctx.fillRect(k * bw + 1, h - (below + p) * h, bw - 2, p * h);
        below += p;
      });
    });
    var last = done[done.length - 1];
    S.describe(liveCanvas, done.length + " chunk" + (done.length === 1 ? "" : "s") + " analysed" +
      (last ? "; latest: " + last.top_emotion + " " + last.percents[last.top_emotion] : "") + ".");
  }

  function pollLive(live) {
    if (!live.statusUrl || live.polling) return;
    live.polling = true;
    // Until every chunk sent is analysed and the take has stopped (a chunk may still be on its way).
    S.pollStatus(live.statusUrl, function (job) { drawLive(job.files || []); }, {
      keepGoing: function (job) {
        var going = !job.finished || Boolean(state && state.live === live);
        if (!going) live.polling = false;  // the take's last chunk, answered later, starts it again
        return going;
      },
    });
  }

  function sendChunk(live, samples, rate) {
    var data = new FormData();
    data.append("csrfmiddlewaretoken", csrf());
    data.append("name", takeName);
    if (live.job) data.append("job", live.job);
    data.append("files", wav(samples, rate), takeName + " live " + live.sent + ".wav");
    live.sent++;
    live.queue = live.queue.then(function () {
      return fetch(section.dataset.liveUrl, {
        method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" },
      }).then(function (r) { return r.json(); }).then(function (answer) {
        if (!answer.job) return;
        live.job = answer.job;
        live.statusUrl = answer.status_url;
        pollLive(live);
      });
    }).catch(function () { showError("A live chunk could not be sent; the full take is still recorded."); });
  }

  // ---- recording ----------------------------------------------------------------------------------
  function tick() {
    if (!state) return;
    var t = elapsed();
    timeEl.textContent = clockLabel(t) + " / " + clockLabel(maxSeconds);
    meter.value = Math.min(1, state.level * 4);
    if (state.live) {
      var chunkFrames = CHUNK_S * state.rate;
      while (state.frames - state.live.from >= chunkFrames) {
        var samples = joined(state.live.from).subarray(0, chunkFrames);
        sendChunk(state.live, samples, state.rate);
        state.live.from += chunkFrames;
      }
    }
    if (t >= maxSeconds) stop();
  }

  function start() {
    showError("");
    take.hidden = true;
    navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false } })
      .then(function (stream) {
        var ctx = new Context();
        var source = ctx.createMediaStreamSource(stream);
        // ScriptProcessor is deprecated but needs no worklet module; it runs everywhere MediaStream does.
        var node = ctx.createScriptProcessor(4096, 1, 1);
        takeName = "Recording " + stamp(new Date());
        state = { stream: stream, ctx: ctx, node: node, buffers: [], frames: 0, rate: ctx.sampleRate, level: 0,
          live: liveBox.checked ? { job: null, statusUrl: null, from: 0, sent: 0, queue: Promise.resolve() } : null };
        node.onaudioprocess = function (e) {
          if (!state) return;
          var data = new Float32Array(e.inputBuffer.getChannelData(0));
          var sum = 0;
          for (var i = 0; i < data.length; i++) sum += data[i] * data[i];
          state.level = Math.sqrt(sum / data.length);
          state.buffers.push(data);
          state.frames += data.length;
        };
        source.connect(node);
        node.connect(ctx.destination);
        state.timer = window.setInterval(tick, 200);
        if (state.live) {
          if (!liveFigure.querySelector(".legend")) liveFigure.appendChild(S.legend(S.EMOTIONS));
          liveFigure.hidden = false;
          liveCanvas.dataset.points = "0";
        }
        startBtn.disabled = true;
        stopBtn.disabled = false;
        stopBtn.focus();
        section.dataset.state = "recording";
      })
      .catch(function (err) {
        showError(err && err.name === "NotAllowedError"
          ? "The browser refused the microphone. Allow it in the address bar's site settings, then press Record again."
          : err && err.name === "NotFoundError"
            ? "No microphone was found. Connect one, or upload a recording instead."
            : "The microphone could not be opened (" + (err && err.name ? err.name : "unknown error") + ").");
      });
  }

  function stop() {
    if (!state) return;
    var s = state;
    window.clearInterval(s.timer);
    s.node.disconnect();
    s.stream.getTracks().forEach(function (t) { t.stop(); });
    var samples = joined(0);
    if (s.live && s.frames > s.live.from + s.rate) sendChunk(s.live, joined(s.live.from), s.rate);
    state = null;
    s.ctx.close();
    meter.value = 0;
    blob = wav(samples, s.rate);
    preview.src = URL.createObjectURL(blob);
    take.hidden = false;
    startBtn.disabled = false;
    stopBtn.disabled = true;
    sendBtn.focus();
    section.dataset.state = "recorded";
    timeEl.textContent = clockLabel(samples.length / s.rate) + " recorded";
  }

  function send() {
    if (!blob) return;
    var data = new FormData();
    data.append("csrfmiddlewaretoken", csrf());
    data.append("files", blob, takeName + ".wav");
    sendBtn.disabled = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", section.dataset.uploadUrl);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
      if (xhr.status >= 200 && xhr.status < 300 && answer && answer.location) {
        window.location.assign(answer.location);
        return;
      }
      sendBtn.disabled = false;
      showError("The server did not accept the recording (HTTP " + xhr.status + "). Please try again.");
    });
    xhr.addEventListener("error", function () {
      sendBtn.disabled = false;
      showError("The recording could not be sent. Check your connection and try again.");
    });
    xhr.send(data);
  }

  startBtn.addEventListener("click", start);
  stopBtn.addEventListener("click", stop);
  sendBtn.addEventListener("click", send);
  discardBtn.addEventListener("click", function () {
    blob = null;
    take.hidden = true;
    preview.removeAttribute("src");
    timeEl.textContent = "0:00";
    startBtn.focus();
  });
})();
