#!/usr/bin/env bash
# Installs Debian's prometheus package (the server and promtool) when promtool
# is missing. make test-chart runs it; it does nothing when promtool is there.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "chart: installing prometheus and promtool (apt-get)"
$sudo apt-get update -qq
# The package's service is not wanted here: keep its postinst from starting it.
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool
