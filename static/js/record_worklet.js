/*
 * The recorder's audio thread (an AudioWorklet module, loaded by record.js from this site, so within the
 * CSP): hands the microphone's samples to the page in blocks of BLOCK frames (transferred, not copied),
 * with each block's RMS level for the meter.  Outputs silence.
 */
var BLOCK = 4096;

class SerwebRecorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(BLOCK);
    this.filled = 0;
  }

  process(inputs) {
    var channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    var at = 0;
    while (at < channel.length) {
      var n = Math.min(channel.length - at, BLOCK - this.filled);
      this.block.set(channel.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === BLOCK) {
        var sum = 0;
        for (var i = 0; i < BLOCK; i++) sum += this.block[i] * this.block[i];
        this.port.postMessage({ samples: this.block, level: Math.sqrt(sum / BLOCK) }, [this.block.buffer]);
        this.block = new Float32Array(BLOCK);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("serweb-recorder", SerwebRecorder);
