#!/usr/bin/env bash
# Install the Debian packages that the tests (or, with arguments, another target) run for real,
# when they are missing. Arguments: command=package pairs; without any, the test suite's list.
set -euo pipefail
if [ $# -eq 0 ]; then
  set -- prometheus-alertmanager=prometheus-alertmanager chromium=chromium
fi
missing=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
