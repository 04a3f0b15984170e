# debian.sh is sourced by the scripts that build images from Debian's
# packages without a registry (prometheus.sh, devbase.sh). Set NAME first;
# it prefixes the messages.

log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# deb_versions PKG... prints "pkg: version" for the candidate apt would
# install now, running apt-get update once when the first has none.
deb_versions() {
	local v
	v="$(apt-cache policy "$@" 2>/dev/null | awk '/^[^ ]/ { p = $1 } /Candidate:/ { print p, $2 }')"
	if ! grep -q "^$1: [0-9]" <<<"$v"; then
		log "no candidate for $1; running apt-get update"
		apt-get update -qq >/dev/null || die "apt-get update failed"
		v="$(apt-cache policy "$@" | awk '/^[^ ]/ { p = $1 } /Candidate:/ { print p, $2 }')"
	fi
	printf '%s\n' "$v"
}

# deb_unpack CACHE DIR PKG... downloads the packages into CACHE and unpacks
# each into DIR.
deb_unpack() {
	local cache="$1" dir="$2" p deb
	shift 2
	mkdir -p "$cache" "$dir"
	(cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$@") || die "apt-get download failed"
	for p in "$@"; do
		deb="$(ls -t "$cache/${p}_"*.deb | head -n 1)"
		dpkg-deb -x "$deb" "$dir"
	done
}

# image_label IMAGE KEY prints the image's label KEY, empty when the image
# or the label is missing.
image_label() {
	docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || :
}

# build_image IMAGE LABEL_KEY HASH CTX builds CTX (a Dockerfile FROM scratch or
# a local image; the legacy builder needs no buildx) as IMAGE, labelled
# LABEL_KEY=HASH so that image_label can tell it is up to date; the build's
# output is shown only when it fails.
build_image() {
	log "building $1"
	if ! DOCKER_BUILDKIT=0 docker build --label "$2=$3" -t "$1" "$4" >"$4/build.log" 2>&1; then
		cat "$4/build.log" >&2
		die "docker build failed"
	fi
}
