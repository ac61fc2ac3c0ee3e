#!/usr/bin/env bash
# Install promtool (Prometheus' rule checker) into .tools/prometheus for the alert-rule
# tests (idempotent), like install-azurite.sh does for Azurite.
#
# Source: Debian bookworm's `prometheus` package, pinned to one version and, on amd64, to
# the .deb's sha256 (apt also checks it against the signed archive index). GitHub release
# tarballs are not reachable from every machine that runs this; Debian's archive is.
# Only the promtool binary is extracted: nothing is installed system-wide, no service runs.
set -euo pipefail

version="2.42.0+ds-5+deb12u1"
sha256_amd64="81d59a24fce84f7fbe97a45a4f2914b6a5881b5cd1db2a6a0e129e515e1a5f55"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${PROMTOOL_PREFIX:-$root/.tools/prometheus}"
bin="$prefix/promtool"

if [[ -x "$bin" ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-promtool: apt-get not found; put promtool ${version%%+*} at $bin and retry" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# A fresh machine may have no package index yet: fetch it once, then retry.
if ! apt-get download -q "prometheus=$version" >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get download -q "prometheus=$version" >/dev/null
fi
deb=(prometheus_*.deb)
if [[ "$(dpkg --print-architecture)" == amd64 ]]; then
  echo "$sha256_amd64  ${deb[0]}" | sha256sum --check --quiet -
fi
dpkg-deb -x "${deb[0]}" extracted
mkdir -p "$prefix"
install -m 0755 extracted/usr/bin/promtool "$bin"
"$bin" --version >/dev/null
