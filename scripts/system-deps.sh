#!/usr/bin/env bash
# Debian packages the tests need: Chromium for the browser tests, ffmpeg/lame/vorbis-tools to decode
# and write MP3/OGG/M4A test audio.  Installs only what is missing; never downloads a browser build.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v lame >/dev/null || need+=(lame)
command -v oggenc >/dev/null || need+=(vorbis-tools)
# Synthetic speech for the tests: the voice detector (Silero VAD) refuses tones and buzzes, as it should.
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
