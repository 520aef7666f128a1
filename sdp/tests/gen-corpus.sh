#!/bin/sh
# Regenerates the browser- and aiortc-produced files of sdp/tests/corpus/ on this machine: headless
# Chromium (Debian `chromium`, driven by playwright-core from npm), headless Firefox (Debian
# `firefox-esr`) and aiortc (PyPI), all inside a private network namespace so the SDPs carry loopback
# candidates only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
corpus="$here/corpus"
work=${SDP_GEN_DIR:-/tmp/sansrtc-sdp-gen}
missing=""
command -v chromium >/dev/null || missing="$missing chromium"
command -v firefox-esr >/dev/null || missing="$missing firefox-esr"
if [ -n "$missing" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
mkdir -p "$work"
[ -d "$work/node_modules/playwright-core" ] || (cd "$work" && npm init -y >/dev/null && npm install -q playwright-core)
[ -x "$work/venv/bin/python" ] || (python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q aiortc)
cp "$here"/gen/*.js "$here"/gen/*.py "$work/"
unshare --net sh -c "ip link set lo up && cd '$work' && node chromium.js '$corpus' && node firefox.js '$corpus' \
  && venv/bin/python aiortc_sdp.py '$corpus'"
