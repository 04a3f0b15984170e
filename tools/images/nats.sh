#!/usr/bin/env bash
# nats.sh builds storefront-local/nats:v2.15.2 without a container registry:
# it compiles nats-server statically from the version pinned in tools/go.mod
# (Go module proxy only) and wraps it in a FROM-scratch image. Nothing is done
# if the image is already up to date.
#
# Environment:
#   IMAGE    image tag to build (default storefront-local/nats:$VERSION)
#   FORCE=1  rebuild even if the image is up to date
set -euo pipefail

VERSION=v2.15.2
MODULE=github.com/nats-io/nats-server/v2
IMAGE="${IMAGE:-storefront-local/nats:$VERSION}"
LABEL_KEY=org.storefront.build-hash

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools="$repo/tools"

log() { printf 'nats.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v docker >/dev/null || die "docker not found"
command -v go >/dev/null || die "go not found"

# GOWORK=off: build exactly what tools/go.mod pins, not the workspace's choice.
pinned="$(cd "$tools" && GOWORK=off go list -m -f '{{.Version}}' "$MODULE")" ||
	die "$MODULE is not pinned in $tools/go.mod"
[ "$pinned" = "$VERSION" ] || die "tools/go.mod pins $MODULE $pinned, want $VERSION"

hash="$({ cat "$here/nats.sh" "$here/nats/Dockerfile"; go version; } | sha256sum | cut -c1-16)"
current="$(docker image inspect -f "{{index .Config.Labels \"$LABEL_KEY\"}}" "$IMAGE" 2>/dev/null || :)"
if [ "${FORCE:-0}" != 1 ] && [ "$current" = "$hash" ]; then
	log "$IMAGE is up to date ($hash)"
	exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT

log "compiling $MODULE@$VERSION"
(cd "$tools" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/nats-server" "$MODULE")
got="$("$ctx/nats-server" --version)"
case "$got" in
*"$VERSION"*) ;;
*) die "built binary reports \"$got\", want $VERSION" ;;
esac

mkdir "$ctx/data"
cp "$here/nats/Dockerfile" "$ctx/Dockerfile"
old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || :)"
log "building $IMAGE"
# The legacy builder is enough for a FROM-scratch image and needs no buildx.
if ! DOCKER_BUILDKIT=0 docker build --label "$LABEL_KEY=$hash" -t "$IMAGE" "$ctx" >"$ctx/build.log" 2>&1; then
	cat "$ctx/build.log" >&2
	die "docker build failed"
fi
log "built $IMAGE ($hash)"
# Drop the image this one replaced; fails harmlessly if a container still uses it.
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
	docker rmi "$old_id" >/dev/null 2>&1 || :
fi
