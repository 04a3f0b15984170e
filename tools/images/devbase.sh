#!/usr/bin/env bash
# devbase.sh builds storefront-local/devbase:1, the base of the images
# `tilt up` builds (tilt/Dockerfile): Debian's statically linked busybox on
# an empty base, which gives Tilt's Live Update the sh and tar it runs in a
# container. The service images (services/*/Dockerfile) stay FROM scratch.
# Nothing is done if the image is already up to date.
#
# Environment:
#   IMAGE    image tag to build (default storefront-local/devbase:1)
#   FORCE=1  rebuild even if the image is up to date
set -euo pipefail

IMAGE="${IMAGE:-storefront-local/devbase:1}"
PACKAGES=(busybox-static)
LABEL_KEY=org.storefront.build-hash
# The applets Live Update and tilt/run.sh use.
APPLETS=(sh tar mv rm mkdir touch cat kill sleep ls)

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="$repo/.cache/images/devbase"
NAME=devbase.sh
# shellcheck source=tools/images/debian.sh
. "$here/debian.sh"

command -v docker >/dev/null || die "docker not found"
command -v apt-get >/dev/null || die "apt-get not found: the image is made from Debian's packages"

versions="$(deb_versions "${PACKAGES[@]}")"
hash="$({ cat "$here/devbase.sh" "$here/debian.sh"; printf '%s\n' "$versions"; } | sha256sum | cut -c1-16)"
if [ "${FORCE:-0}" != 1 ] && [ "$(image_label "$IMAGE" "$LABEL_KEY")" = "$hash" ]; then
	log "$IMAGE is up to date ($hash)"
	exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
log "downloading ${PACKAGES[*]} ($(tr '\n' ' ' <<<"$versions"))"
deb_unpack "$cache" "$ctx/unpack" "${PACKAGES[@]}"
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp"
cp "$ctx/unpack/bin/busybox" "$ctx/rootfs/bin/busybox"
for a in "${APPLETS[@]}"; do
	ln -s busybox "$ctx/rootfs/bin/$a"
done
chmod 1777 "$ctx/rootfs/tmp"
printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nUSER 65532:65532\n' >"$ctx/Dockerfile"
build_image "$IMAGE" "$LABEL_KEY" "$hash" "$ctx"
docker run --rm "$IMAGE" sh -c 'tar --help >/dev/null 2>&1; echo ok' | grep -qx ok || die "the image's sh or tar does not run"
log "built $IMAGE ($hash)"
