#!/usr/bin/env bash
# prometheus.sh builds storefront-local/prometheus:2.42 without a container
# registry: it downloads Debian's prometheus package and the libc6 it links
# against from the apt mirror this machine uses, unpacks the binaries and
# the C library into a rootfs and wraps it in a FROM-scratch image. The
# image holds promtool too, for its health check. Nothing is done if the
# image is already up to date.
#
# Environment:
#   IMAGE    image tag to build (default storefront-local/prometheus:2.42)
#   FORCE=1  rebuild even if the image is up to date
set -euo pipefail

IMAGE="${IMAGE:-storefront-local/prometheus:2.42}"
PACKAGES=(prometheus libc6)
LABEL_KEY=org.storefront.build-hash

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="$repo/.cache/images/prometheus"
NAME=prometheus.sh
# shellcheck source=tools/images/debian.sh
. "$here/debian.sh"

command -v docker >/dev/null || die "docker not found"
command -v apt-get >/dev/null || die "apt-get not found: the image is made from Debian's packages"

# The versions apt would install now name the build.
versions="$(deb_versions "${PACKAGES[@]}")"
grep -q '^prometheus: 2\.42\.' <<<"$versions" || die "this script expects Debian's prometheus 2.42; apt offers: $versions"
hash="$({ cat "$here/prometheus.sh" "$here/debian.sh" "$here/prometheus/Dockerfile"; printf '%s\n' "$versions"; } | sha256sum | cut -c1-16)"
current="$(image_label "$IMAGE" "$LABEL_KEY")"
if [ "${FORCE:-0}" != 1 ] && [ "$current" = "$hash" ]; then
	log "$IMAGE is up to date ($hash)"
	exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
log "downloading ${PACKAGES[*]} ($(tr '\n' ' ' <<<"$versions"))"
unpack="$ctx/unpack"
deb_unpack "$cache" "$unpack" "${PACKAGES[@]}"
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/prometheus" "$ctx/rootfs/prometheus" "$ctx/rootfs/tmp"
cp "$unpack/usr/bin/prometheus" "$unpack/usr/bin/promtool" "$ctx/rootfs/usr/bin/"
# The dynamic loader and libc, where the binaries look for them (the
# loader's path is /lib64; libc is found through /lib/x86_64-linux-gnu).
mkdir -p "$ctx/rootfs/lib64" "$ctx/rootfs/lib/x86_64-linux-gnu"
loader="$(find "$unpack" -name 'ld-linux-x86-64.so.2' | head -n 1)"
libc="$(find "$unpack" -name 'libc.so.6' | head -n 1)"
[ -n "$loader" ] && [ -n "$libc" ] || die "libc6 holds no loader or libc.so.6"
cp -L "$loader" "$ctx/rootfs/lib64/ld-linux-x86-64.so.2"
cp -L "$libc" "$ctx/rootfs/lib/x86_64-linux-gnu/libc.so.6"
printf 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
chmod 1777 "$ctx/rootfs/tmp"
chown 65534:65534 "$ctx/rootfs/prometheus"
cp "$here/prometheus/Dockerfile" "$ctx/Dockerfile"

old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || :)"
build_image "$IMAGE" "$LABEL_KEY" "$hash" "$ctx"
got="$(docker run --rm "$IMAGE" --version 2>&1 | head -n 1)"
case "$got" in
"prometheus, version 2.42"*) ;;
*) die "the image's prometheus reports \"$got\"" ;;
esac
log "built $IMAGE ($hash): $got"
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
	docker rmi "$old_id" >/dev/null 2>&1 || :
fi
