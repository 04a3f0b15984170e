#!/usr/bin/env bash
# Installs Debian's prometheus package (the server and promtool) when promtool
# is missing. make test-chart runs it; it does nothing when promtool is there.
set -euo pipefail
exec bash "$(dirname "$0")/../../tools/install-deb.sh" promtool prometheus chart
