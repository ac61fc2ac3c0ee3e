#!/usr/bin/env bash
# Install headless Chromium for the HTML report test (idempotent; Debian's `chromium`).
#
# Never fails the build: without root or apt the test skips and says why.
set -uo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: apt-get not found; install Chromium yourself to run the HTML test" >&2
  exit 0
fi
sudo=""
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "install-chromium: not root and no passwordless sudo; the HTML test will skip" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends chromium >&2; then
  $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends chromium >&2 \
    || echo "install-chromium: apt-get could not install chromium; the HTML test will skip" >&2
fi
exit 0
