#!/bin/sh
# run.sh is the entrypoint of the images `tilt up` builds (tilt/Dockerfile):
# it runs /$SERVICE with the container's arguments and, on SIGHUP, stops it
# (SIGTERM, the usual drain) and starts it again from $LIVE_DIR/$SERVICE,
# where Live Update puts each new build. The root filesystem is read-only;
# LIVE_DIR is /tmp/live on Kubernetes (an emptyDir) and /live in compose (a
# tmpfs mounted exec; the stack's /tmp is noexec).
set -u
name="${SERVICE:?SERVICE names the binary}"
live="${LIVE_DIR:-/tmp/live}"
child=0
restart=0
trap 'restart=1; kill -TERM "$child" 2>/dev/null' HUP
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
	exe="/$name"
	if [ -x "$live/$name" ]; then
		exe="$live/$name"
	fi
	"$exe" "$@" &
	child=$!
	# wait returns early when a trapped signal arrives; wait until the
	# child is gone.
	code=0
	while kill -0 "$child" 2>/dev/null; do
		wait "$child"
		code=$?
	done
	if [ "$restart" = 1 ]; then
		restart=0
		echo "run.sh: restarting $name from the live-updated binary" >&2
		continue
	fi
	exit "$code"
done
