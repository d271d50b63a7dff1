/*
 * Upload page: record from the microphone (the #record section only; the upload form is upload.js's).
 * The take is captured as PCM by an AudioWorklet (static/js/record_worklet.js, data-worklet-url) and
 * encoded here as 16 kHz 16-bit mono WAV, which the server reads like any upload (it does not accept
 * WebM/Opus, MediaRecorder's only Chromium format).  A level meter and the elapsed time show while
 * recording; recording stops on Stop or at the upload limit (data-max-seconds); the person can listen
 * back, then send the take (named "Recording YYYY-MM-DD HH:MM.wav") or discard it.
 *
 * Live mode: the take is ONE recording on the server.  Every CHUNK_S seconds the newest chunk goes to
 * data-live-url, numbered from 0 with the take's key (a retry sends the same number, so the server
 * appends it once); the take's status.json is polled (Serweb.pollStatus) to draw its timeline as it grows.
 * Stop sends the tail and the number of chunks; the page then links to the recording, and offers no Send.
 */
(function () {
  "use strict";
  var S = window.Serweb;
  var section = document.getElementById("record");
  if (!section) return;
  var Context = window.AudioContext || window.webkitAudioContext;
  if (!Context || !window.AudioWorkletNode || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
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
  var liveLink = document.getElementById("record-live-link");
  var sentButtons = document.getElementById("record-actions");

  var state = null;  // {stream, ctx, node, buffers: [Float32Array], frames, rate, level, timer, live}
  var blob = null;
  var takeName = "";

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }

  function csrf() {
    var input = section.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /** A random UUID (version 4) naming the take, so a retried first chunk finds the take it opened. */
  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
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

  /** The samples of take ``s`` from frame ``from`` on, as one array. */
  function joined(s, from) {
    var total = 0;
    s.buffers.forEach(function (b) { total += b.length; });
    var out = new Float32Array(total - from);
    var offset = 0, skip = from;
    s.buffers.forEach(function (b) {
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
  /** The take's timeline so far: one stacked bar per analysed window, over the middle of its span. */
  function drawLive(take) {
    var windows = take.windows || [];
    liveCanvas.dataset.points = String(windows.length);
    var fit = S.fitCanvas(liveCanvas, 90);
    var ctx = fit.ctx, w = fit.width, h = fit.height;
    ctx.clearRect(0, 0, w, h);
    var end = Math.max(elapsed(), take.seconds || 0, CHUNK_S);
    windows.forEach(function (win) {
      var quarter = (win.end_s - win.start_s) / 4;
      var x0 = (win.start_s + quarter) / end * w, x1 = (win.end_s - quarter) / end * w;
      var below = 0;
      S.EMOTIONS.forEach(function (e) {
        var p = win.probabilities[e] || 0;
        ctx.fillStyle = S.colorFor(e);
        ctx.fillRect(x0 + 1, h - (below + p) * h, Math.max(1, x1 - x0 - 2), p * h);
        below += p;
      });
    });
    var last = windows[windows.length - 1];
    S.describe(liveCanvas, windows.length + " window" + (windows.length === 1 ? "" : "s") + " analysed" +
      (last ? "; latest (" + last.span + "): " + last.ranked[0].join(" ") : "") + ".");
  }

  function pollLive(live) {
    if (!live.statusUrl || live.polling) return;
    live.polling = true;
    // Until the take is finished on the server (after Stop and every chunk in).
    S.pollStatus(live.statusUrl, function (take) {
      drawLive(take);
      if (take.finished) showLiveResult(take);
    }, {
      keepGoing: function (take) { return !take.finished; },
      progress: function (take) { return (take.windows || []).length; },
    });
  }

  function post(url, data, tries) {
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" },
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (r.ok) return answer;
        var err = new Error(answer.error || "HTTP " + r.status);
        err.retry = r.status >= 500 || r.status === 429;
        throw err;
      });
    }).catch(function (err) {
      // A network failure or a server hiccup: the same request again (the server appends a chunk once).
      if ((err.retry || err instanceof TypeError) && tries > 1) {
        return new Promise(function (ok) { window.setTimeout(ok, 1000); }).then(function () { return post(url, data, tries - 1); });
      }
      throw err;
    });
  }

  function sendChunk(live, samples, rate) {
    var data = new FormData();
    data.append("csrfmiddlewaretoken", csrf());
    data.append("name", takeName);
    data.append("take", live.key);
    data.append("seq", String(live.sent));
    data.append("files", wav(samples, rate), takeName + " " + live.sent + ".wav");
    live.sent++;
    live.queue = live.queue.then(function () {
      return post(section.dataset.liveUrl, data, 4).then(function (answer) {
        live.statusUrl = answer.status_url;
        live.finishUrl = answer.finish_url;
        live.jobUrl = "/jobs/" + answer.job + "/";
        pollLive(live);
      });
    }).catch(function (err) {
      live.failed = true;
      showError("A live chunk could not be sent (" + err.message + "); the take below is what you recorded.");
    });
  }

  /** After Stop: tell the server how many chunks the take has; it is finished once they are all in. */
  function finishLive(live) {
    live.queue = live.queue.then(function () {
      if (!live.finishUrl) return;
      var data = new FormData();
      data.append("csrfmiddlewaretoken", csrf());
      data.append("chunks", String(live.sent));
      return post(live.finishUrl, data, 4).then(function (take) {
        showLiveLink(take.url);
        pollLive(live);
      });
    }).catch(function (err) { showError("The take could not be finished (" + err.message + ")."); });
  }

  function showLiveLink(url) {
    liveLink.href = url;
    liveLink.hidden = false;
  }

  function showLiveResult(take) {
    showLiveLink(take.url);
    liveLink.textContent = take.failed ? "Open the recording (" + take.reason + ")" :
      "Open the recording (" + take.headline + ")";
    listRecent(take);
  }

  /** The finished take at the top of the page's "Recent uploads" (once), as a reload would show it. */
  function listRecent(take) {
    var section = document.getElementById("recent-uploads");
    if (!section || section.dataset.listed === take.url) return;
    section.dataset.listed = take.url;
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.className = "file-name";
    link.href = take.url;
    link.textContent = take.name;
    item.appendChild(link);
    item.appendChild(document.createTextNode(" · just now · " + (take.failed ? "Failed" : "Finished")));
    section.querySelector("ul").prepend(item);
    section.hidden = false;
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
        var samples = joined(state, state.live.from).subarray(0, chunkFrames);
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
        return ctx.audioWorklet.addModule(section.dataset.workletUrl).then(function () {
          var source = ctx.createMediaStreamSource(stream);
          var node = new AudioWorkletNode(ctx, "serweb-recorder", { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1 });
          takeName = "Recording " + stamp(new Date());
          state = { stream: stream, ctx: ctx, node: node, buffers: [], frames: 0, rate: ctx.sampleRate, level: 0,
            live: liveBox.checked ? { key: uuid(), statusUrl: null, finishUrl: null, from: 0, sent: 0,
              queue: Promise.resolve() } : null };
          node.port.onmessage = function (e) {
            if (!state || state.node !== node) return;
            state.level = e.data.level;
            state.buffers.push(e.data.samples);
            state.frames += e.data.samples.length;
          };
          source.connect(node);
          node.connect(ctx.destination);  // silent; keeps the node pulled by the graph
        }, function (err) {
          stream.getTracks().forEach(function (t) { t.stop(); });
          ctx.close();
          throw err;
        });
      })
      .then(function () {
        state.timer = window.setInterval(tick, 200);
        liveLink.hidden = true;
        sentButtons.hidden = false;
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
    var samples = joined(s, 0);
    state = null;
    if (s.live) {
      if (s.frames > s.live.from) sendChunk(s.live, joined(s, s.live.from), s.rate);
      finishLive(s.live);
    }
    s.ctx.close();
    meter.value = 0;
    blob = wav(samples, s.rate);
    preview.src = URL.createObjectURL(blob);
    take.hidden = false;
    startBtn.disabled = false;
    stopBtn.disabled = true;
    // A live take is on the server already: a link to it (once it is known), never a second Send.
    sentButtons.hidden = Boolean(s.live);
    (s.live ? startBtn : sendBtn).focus();
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
