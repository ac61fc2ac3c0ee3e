#!/usr/bin/env bash
# Install the Azurite blob emulator the test suite runs (idempotent).
#
# Pinned to 3.35.0: the newest release whose package.json accepts Node 20 (3.36 needs
# node >= 21). Installed into .tools/azurite so nothing global changes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${AZURITE_PREFIX:-$root/.tools/azurite}"
bin="$prefix/node_modules/.bin/azurite-blob"

if [[ -x "$bin" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-azurite: npm not found; install Node.js 20+ (it brings npm) and retry" >&2
  exit 1
fi
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --save-exact azurite@3.35.0 >&2
if [[ ! -x "$bin" ]]; then
  echo "install-azurite: npm finished but $bin is missing" >&2
  exit 1
fi
