#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/ui) when it is missing: Playwright drives the system's
# browser and never downloads one. CHROMIUM is where to look besides the PATH (default /usr/bin/chromium).
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if command -v chromium >/dev/null 2>&1 || [ -x "$CHROMIUM" ]; then
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "Chromium is missing and installing it needs root: run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
}

echo "installing Chromium (apt-get install chromium)"
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get install -y -q chromium; then
  # A fresh machine may have no package lists yet.
  as_root apt-get update -q
  as_root apt-get install -y -q chromium
fi
if ! command -v chromium >/dev/null 2>&1 && [ ! -x "$CHROMIUM" ]; then
  echo "apt-get installed chromium, but there is no chromium on the PATH nor at $CHROMIUM" >&2
  exit 1
fi
