#!/usr/bin/env bash
# What the benchmark needs beyond the stack: Debian's packages that run the original Python tool
# (../shared/seed) unchanged, as its baseline.
set -euo pipefail
packages=(python3-kafka python3-elasticsearch python3-dotenv python3-prometheus-client python3-tz)
missing=()
for pkg in "${packages[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[bench] installing Debian packages: ${missing[*]}" >&2
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
