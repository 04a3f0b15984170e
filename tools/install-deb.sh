#!/usr/bin/env bash
# install-deb.sh COMMAND PACKAGE WHO installs Debian's PACKAGE with apt-get
# (through sudo when not root) when COMMAND is not on PATH, and does nothing
# when it is. WHO prefixes the message (chart, e2e). RUNLEVEL=1 keeps a
# package's postinst from starting a service it ships (prometheus does).
set -euo pipefail
cmd="${1:?usage: install-deb.sh COMMAND PACKAGE WHO}"
pkg="${2:?usage: install-deb.sh COMMAND PACKAGE WHO}"
who="${3:?usage: install-deb.sh COMMAND PACKAGE WHO}"
if command -v "$cmd" >/dev/null 2>&1; then
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "$who: installing $pkg (apt-get)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
command -v "$cmd"
