#!/usr/bin/env bash
# ensure-deps.sh chooses the Postgres and NATS images that integration tests
# and compose use, and makes sure they exist locally. For each one:
#   1. $STOREFRONT_POSTGRES_IMAGE / $STOREFRONT_NATS_IMAGE if set (pulled if
#      missing; an error if that fails);
#   2. else the public default if it is present or can be pulled;
#   3. else a local image built without a registry (postgres.sh, nats.sh).
# The choice is written to .cache/images.env at the repo root and printed.
#
# Environment:
#   STOREFRONT_PULL_TIMEOUT  seconds to wait for each docker pull (default 20;
#                            0 skips pulls entirely)
set -euo pipefail

PUBLIC_POSTGRES=postgres:17-alpine
PUBLIC_NATS=nats:2.12-alpine
LOCAL_POSTGRES=storefront-local/postgres:15
LOCAL_NATS=storefront-local/nats:v2.15.2

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/.cache/images.env"
pull_timeout="${STOREFRONT_PULL_TIMEOUT:-20}"

log() { printf 'ensure-deps: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

try_pull() {
	[ "$pull_timeout" != 0 ] || return 1
	log "pulling $1 (timeout ${pull_timeout}s)"
	if timeout "$pull_timeout" docker pull -q "$1" >/dev/null 2>&1; then
		return 0
	fi
	log "cannot pull $1"
	return 1
}

# choose prints the image to use. Arguments: name of the override variable,
# its value, public default, local tag, build script.
choose() {
	local var="$1" override="$2" public="$3" local_tag="$4" script="$5"
	if [ -n "$override" ]; then
		if [ "$override" = "$local_tag" ]; then
			"$here/$script" >&2 || die "$script failed to build $local_tag"
		fi
		if have_image "$override" || try_pull "$override"; then
			printf '%s\n' "$override"
			return
		fi
		die "$var=$override is not available locally and cannot be pulled; unset $var to fall back to $public or a locally built $local_tag"
	fi
	if have_image "$public" || try_pull "$public"; then
		printf '%s\n' "$public"
		return
	fi
	log "using locally built $local_tag"
	"$here/$script" >&2 || die "$script failed to build $local_tag"
	have_image "$local_tag" || die "$script did not produce $local_tag"
	printf '%s\n' "$local_tag"
}

command -v docker >/dev/null || die "docker not found"
docker info >/dev/null 2>&1 || die "docker daemon not reachable"

# Parallel `make test` runs share one build instead of racing.
mkdir -p "$repo/.cache"
if command -v flock >/dev/null; then
	exec 9>"$repo/.cache/images.lock"
	flock 9
fi

postgres="$(choose STOREFRONT_POSTGRES_IMAGE "${STOREFRONT_POSTGRES_IMAGE:-}" \
	"$PUBLIC_POSTGRES" "$LOCAL_POSTGRES" postgres.sh)"
nats="$(choose STOREFRONT_NATS_IMAGE "${STOREFRONT_NATS_IMAGE:-}" \
	"$PUBLIC_NATS" "$LOCAL_NATS" nats.sh)"

tmp="$(mktemp "$out.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
printf 'STOREFRONT_POSTGRES_IMAGE=%s\nSTOREFRONT_NATS_IMAGE=%s\n' "$postgres" "$nats" >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$out"
log "wrote $out"
cat "$out"
