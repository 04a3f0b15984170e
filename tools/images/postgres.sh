#!/usr/bin/env bash
# postgres.sh builds storefront-local/postgres:15 without a container registry:
# it debootstraps a minimal Debian bookworm rootfs with postgresql-15 from the
# apt mirror this machine already uses, adds docker-entrypoint.sh and
# docker-imports the result. Rootfs tarballs are cached under .cache/images/
# so re-runs take seconds; nothing is done if the image is already up to date.
#
# Environment:
#   IMAGE          image tag to build (default storefront-local/postgres:15)
#   DEBIAN_MIRROR  apt mirror (default: the bookworm mirror from /etc/apt)
#   FORCE=1        rebuild even if the image and caches are up to date
set -euo pipefail

IMAGE="${IMAGE:-storefront-local/postgres:15}"
SUITE=bookworm
# gzip lets docker-entrypoint-initdb.d hold *.sql.gz files, as upstream allows.
PACKAGES=postgresql-15,ca-certificates,gzip
LABEL_KEY=org.storefront.rootfs-hash

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="$repo/.cache/images"
entrypoint="$here/postgres/docker-entrypoint.sh"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# debian_mirror prints the first apt mirror that serves $SUITE, read from
# deb822 .sources files or one-line .list files.
debian_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then
		printf '%s\n' "$DEBIAN_MIRROR"
		return
	fi
	local f uri=""
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri="$(awk -v suite="$SUITE" '
			function flush() {
				if (!done && uris != "" && (" " suites " ") ~ (" " suite " ")) { print uris; done = 1 }
				uris = ""; suites = ""
			}
			/^[[:space:]]*#/ { next }
			/^[[:space:]]*$/ { flush(); next }
			tolower($1) == "uris:" { uris = $2 }
			tolower($1) == "suites:" { $1 = ""; suites = $0 }
			END { flush() }
		' "$f")"
		if [ -n "$uri" ]; then
			printf '%s\n' "$uri"
			return
		fi
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri="$(sed -e 's/\[[^]]*\]//' "$f" |
			awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')"
		if [ -n "$uri" ]; then
			printf '%s\n' "$uri"
			return
		fi
	done
	printf '%s\n' http://deb.debian.org/debian
}

# cleanup_rootfs unmounts anything debootstrap left mounted before deleting,
# so rm never walks into the host's /proc or /sys.
cleanup_rootfs() {
	local dir="$1" m
	[ -d "$dir" ] || return 0
	awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" || :; done
	rm -rf --one-file-system "$dir"
}

# install_debootstrap installs Debian's debootstrap package when it is
# missing; a fresh machine reaches Debian's mirror but has no registry.
install_debootstrap() {
	command -v debootstrap >/dev/null && return 0
	command -v apt-get >/dev/null ||
		die "debootstrap not found and there is no apt-get to install it with"
	log "installing debootstrap with apt-get"
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
	} >"$cache/apt-get.log" 2>&1 || {
		tail -n 20 "$cache/apt-get.log" >&2
		die "apt-get install debootstrap failed"
	}
	command -v debootstrap >/dev/null || die "debootstrap still not found after apt-get install"
}

command -v docker >/dev/null || die "docker not found"

mirror="$(debian_mirror)"
hash="$(cat "$here/postgres.sh" "$entrypoint" | sha256sum | cut -c1-16)"
base_hash="$(printf '%s|%s|%s|minbase' "$SUITE" "$PACKAGES" "$mirror" | sha256sum | cut -c1-16)"
rootfs_tar="$cache/postgres-rootfs-$hash.tar"
base_tar="$cache/postgres-base-$base_hash.tar"

current="$(docker image inspect -f "{{index .Config.Labels \"$LABEL_KEY\"}}" "$IMAGE" 2>/dev/null || :)"
if [ "${FORCE:-0}" != 1 ] && [ "$current" = "$hash" ]; then
	log "$IMAGE is up to date ($hash)"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "debootstrap and chroot need root"
mkdir -p "$cache"
if command -v flock >/dev/null; then
	exec 9>"$cache/postgres.lock"
	flock 9
fi
work="$(mktemp -d "$cache/postgres-work.XXXXXX")"
trap 'cleanup_rootfs "$work/rootfs"; rm -rf "$work"' EXIT

if [ "${FORCE:-0}" = 1 ] || [ ! -s "$rootfs_tar" ]; then
	if [ "${FORCE:-0}" = 1 ] || [ ! -s "$base_tar" ]; then
		install_debootstrap
		log "debootstrap $SUITE with $PACKAGES from $mirror (takes a few minutes)"
		debootstrap --variant=minbase --include="$PACKAGES" \
			"$SUITE" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
			tail -n 30 "$work/debootstrap.log" >&2
			die "debootstrap failed"
		}
		tar -C "$work/rootfs" --numeric-owner -cf "$work/base.tar" .
		mv "$work/base.tar" "$base_tar"
		cleanup_rootfs "$work/rootfs"
	fi

	log "preparing rootfs from $(basename "$base_tar")"
	mkdir "$work/rootfs"
	tar -C "$work/rootfs" --numeric-owner -xf "$base_tar"
	r="$work/rootfs"
	# Debian's package creates a "15/main" cluster; the entrypoint makes its own.
	rm -rf "$r/etc/postgresql/15" "$r/var/lib/postgresql/15" "$r/var/log/postgresql"/*
	# Slim: apt caches and lists, docs, man pages, translations.
	rm -rf "$r/var/cache/apt/archives"/*.deb "$r/var/cache/apt"/*.bin \
		"$r/var/lib/apt/lists"/* "$r/var/cache/debconf"/*-old \
		"$r/usr/share/doc"/* "$r/usr/share/man"/* "$r/usr/share/info"/* \
		"$r/usr/share/locale"/* "$r/usr/share/lintian" "$r/var/log"/*.log \
		"$r/var/log/apt"/* "$r/debootstrap"
	# Slim: LLVM JIT (~130MB). Without llvmjit.so postgres quietly runs with JIT off.
	rm -rf "$r/usr/lib/postgresql/15/lib/llvmjit"* "$r/usr/lib/postgresql/15/lib/bitcode" \
		"$r"/usr/lib/*-linux-gnu/libLLVM*
	mkdir -p "$r/var/lib/postgresql/data" "$r/run/postgresql" "$r/docker-entrypoint-initdb.d"
	chroot "$r" chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /run/postgresql
	chmod 0700 "$r/var/lib/postgresql/data"
	chmod 03775 "$r/run/postgresql"
	install -m 0755 "$entrypoint" "$r/usr/local/bin/docker-entrypoint.sh"
	[ -x "$r/usr/lib/postgresql/15/bin/postgres" ] || die "postgres binary missing from rootfs"
	tar -C "$r" --numeric-owner -cf "$work/rootfs.tar" .
	mv "$work/rootfs.tar" "$rootfs_tar"
	cleanup_rootfs "$r"
fi

# Keep only the current caches.
find "$cache" -maxdepth 1 -name 'postgres-rootfs-*.tar' ! -name "$(basename "$rootfs_tar")" -delete
find "$cache" -maxdepth 1 -name 'postgres-base-*.tar' ! -name "$(basename "$base_tar")" -delete

old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || :)"
log "importing $IMAGE"
staging="$IMAGE-import-$hash"
docker import \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'EXPOSE 5432' \
	- "$staging" <"$rootfs_tar" >/dev/null
# Docker 20.10's import rejects STOPSIGNAL, so add it (and the hash label
# that marks the image up to date) in a one-step build on top.
if ! printf 'FROM %s\nSTOPSIGNAL SIGINT\nLABEL %s=%s\n' "$staging" "$LABEL_KEY" "$hash" |
	DOCKER_BUILDKIT=0 docker build -t "$IMAGE" - >"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	docker rmi "$staging" >/dev/null 2>&1 || :
	die "docker build failed"
fi
docker rmi "$staging" >/dev/null
log "built $IMAGE ($hash)"
# Drop the image this one replaced; fails harmlessly if a container still uses it.
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
	docker rmi "$old_id" >/dev/null 2>&1 || :
fi
