#!/usr/bin/env bash
# Installs Debian's chromium for the e2e suite's browser scenario when it is
# missing. make test-e2e runs it; it does nothing when chromium is there.
set -euo pipefail
exec bash "$(dirname "$0")/../tools/install-deb.sh" chromium chromium e2e
