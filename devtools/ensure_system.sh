#!/usr/bin/env bash
# Make sure the system packages the project needs exist; install them with
# apt-get when running as root, otherwise print the exact command and stop.
# Usage: devtools/ensure_system.sh PACKAGE:COMMAND ...   (e.g. mosquitto:mosquitto)
#        PACKAGE:/absolute/path for a package that installs a file rather than a command (a font)
set -euo pipefail
missing=()
for pair in "$@"; do
  pkg=${pair%%:*}; cmd=${pair#*:}
  if [ "$cmd" = venv ]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=("$pkg")
  elif [ "${cmd:0:1}" = / ]; then
    [ -e "$cmd" ] || missing+=("$pkg")
  elif ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: ${missing[*]}"
  # The distribution's own mosquitto service is not needed: tests and the demo start their own.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
