#!/usr/bin/env bash
# Removes the containers and networks the e2e suite labelled
# storefront.e2e=true. The suite removes its own when it ends, even near its
# timeout; this catches a run that was killed outright. make test-e2e runs it
# on exit.
set -euo pipefail
ctrs="$(docker ps -aq --filter label=storefront.e2e=true)"
if [ -n "$ctrs" ]; then
	echo "e2e: removing leftover containers: $(echo $ctrs)"
	# shellcheck disable=SC2086 # one id per word
	docker rm -f -v $ctrs >/dev/null
fi
nets="$(docker network ls -q --filter label=storefront.e2e=true)"
if [ -n "$nets" ]; then
	echo "e2e: removing leftover networks: $(echo $nets)"
	# shellcheck disable=SC2086
	docker network rm $nets >/dev/null
fi
