#!/usr/bin/env bash
# services.sh builds the service images (storefront/<svc>:dev) without a
# container registry. For each service it compiles a static binary on the
# host from the go.work workspace (CGO_ENABLED=0, -trimpath), puts it in a
# fresh build context with the host's CA bundle and services/<svc>/Dockerfile,
# and runs docker build. The Dockerfile is FROM scratch, so nothing is pulled.
#
# Usage: tools/images/services.sh [SERVICE...]   (default: every service)
#
# Environment:
#   STOREFRONT_IMAGE_PREFIX  image repository prefix (default storefront)
#   STOREFRONT_IMAGE_TAG     image tag (default dev)
#   CA_BUNDLE                CA certificates to copy in
#                            (default /etc/ssl/certs/ca-certificates.crt)
#   GOARCH                   target architecture (default: the Docker daemon's)
#   STOREFRONT_VERSION       version stamped into the binaries
#                            (default: git describe --tags --always --dirty)
#   STOREFRONT_BINARIES_ONLY=DIR  only compile: write DIR/<svc>/<svc> and the
#                            CA bundle, build no image (`tilt up` builds its
#                            own images from them, tilt/Dockerfile)
#
# The binaries get their version, commit and build time through -ldflags -X
# (see libs/service); `<svc> version` prints them and they are exported as
# the storefront_build_info metric. A clean tree is stamped with its commit
# time, so rebuilding an unchanged commit gives the same image.
set -euo pipefail

ALL_SERVICES=(catalogue orders analytics)
PREFIX="${STOREFRONT_IMAGE_PREFIX:-storefront}"
TAG="${STOREFRONT_IMAGE_TAG:-dev}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

repo="$(cd "$(dirname "$0")/../.." && pwd)"

log() { printf 'services.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v docker >/dev/null || die "docker not found"
command -v go >/dev/null || die "go not found (install Go 1.26+ or put /usr/local/go/bin on PATH)"
docker info >/dev/null 2>&1 || die "docker daemon not reachable"
[ -s "$CA_BUNDLE" ] || die "CA bundle $CA_BUNDLE not found; set CA_BUNDLE (Debian/Ubuntu: apt-get install ca-certificates)"

if [ "$#" -gt 0 ]; then
	services=("$@")
else
	services=("${ALL_SERVICES[@]}")
fi

# Build for the daemon's platform, so this also works from a Mac or an arm64 host.
arch="${GOARCH:-$(docker version -f '{{.Server.Arch}}' 2>/dev/null || go env GOARCH)}"
revision="$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ "$revision" != unknown ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	revision="$revision-dirty"
fi

version="${STOREFRONT_VERSION:-$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo dev)}"
case "$revision" in
unknown | *-dirty) build_time="$(date -u +%Y-%m-%dT%H:%M:%SZ)" ;;
*) build_time="$(TZ=UTC0 git -C "$repo" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)" ;;
esac
pkg=github.com/storefront-go/storefront/libs/service
ldflags="-s -w -X $pkg.version=$version -X $pkg.commit=$revision -X $pkg.buildTime=$build_time"

ctx_root="$(mktemp -d)"
trap 'rm -rf "$ctx_root"' EXIT

# Binaries are built in a workspace without the tools module: its dev tools
# (buf, golangci-lint) would otherwise raise shared dependencies, such as
# protobuf, above the versions libs and the services pin.
buildws="$repo/.cache/buildws"
mkdir -p "$buildws"
# A file of this run's own, so that concurrent runs (Tilt builds the
# services in parallel) do not trip over each other's rename.
ws_new="$(mktemp "$buildws/go.work.XXXXXX")"
{
	printf 'go %s\n\nuse (\n' "$(sed -n 's/^go //p' "$repo/go.work")"
	sed -n 's#^[[:space:]]*\./\(.*\)$#\1#p' "$repo/go.work" | grep -v '^tools$' | sed 's#^#\t../../#'
	printf ')\n'
} >"$ws_new"
mv "$ws_new" "$buildws/go.work"
export GOWORK="$buildws/go.work"

for svc in "${services[@]}"; do
	dockerfile="$repo/services/$svc/Dockerfile"
	[ -f "$dockerfile" ] || die "unknown service $svc: $dockerfile not found"
	image="$PREFIX/$svc:$TAG"
	ctx="$ctx_root/$svc"
	if [ -n "${STOREFRONT_BINARIES_ONLY:-}" ]; then
		ctx="$STOREFRONT_BINARIES_ONLY/$svc"
	fi
	mkdir -p "$ctx"

	log "compiling $svc $version (linux/$arch)"
	(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
		go build -trimpath -ldflags "$ldflags" -o "$ctx/$svc" "./services/$svc/cmd/$svc") ||
		die "go build of $svc failed"
	# Left alone when unchanged: Tilt's Live Update syncs only the binary.
	if ! cmp -s "$CA_BUNDLE" "$ctx/ca-certificates.crt"; then
		cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
		chmod 0644 "$ctx/ca-certificates.crt"
	fi
	if [ -n "${STOREFRONT_BINARIES_ONLY:-}" ]; then
		log "compiled $ctx/$svc"
		continue
	fi
	cp "$dockerfile" "$ctx/Dockerfile"

	old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || :)"
	log "building $image"
	# The legacy builder is enough for FROM scratch and needs no buildx.
	if ! DOCKER_BUILDKIT=0 docker build \
		--label "org.opencontainers.image.title=storefront-$svc" \
		--label "org.opencontainers.image.source=https://github.com/storefront-go/storefront" \
		--label "org.opencontainers.image.revision=$revision" \
		-t "$image" "$ctx" >"$ctx_root/$svc-build.log" 2>&1; then
		cat "$ctx_root/$svc-build.log" >&2
		die "docker build of $image failed"
	fi
	new_id="$(docker image inspect -f '{{.Id}}' "$image")"
	log "built $image (${new_id:7:12}, revision $revision)"
	# Drop the image this one replaced; fails harmlessly while a container uses it.
	if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
		docker rmi "$old_id" >/dev/null 2>&1 || :
	fi
done
