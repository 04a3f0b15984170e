#!/usr/bin/env bash
# stack.sh runs the local Storefront stack (compose.yaml) for the Makefile:
#
#   up            pick Postgres/NATS images, build the service and Prometheus images, start
#                 everything, wait until healthy, seed demo data, start the
#                 demo shop page (tools/shopfront), print endpoints
#   down          stop the demo shop, remove the stack (data volumes are kept)
#   down-volumes  stop and remove the stack and its data volumes
#   seed          seed demo data into the running stack (idempotent)
#   tokens        (re)mint the service tokens the stack mounts (up does this)
#   shop          run the demo shop in the foreground (tilt up does this)
#   ps | logs     compose ps / compose logs for the stack
#   endpoints     print the endpoints and example commands
#
# Environment:
#   STOREFRONT_PUBLISH_INFRA=1  also publish Postgres and NATS on 127.0.0.1
#                               (compose.infra-ports.yaml)
#   STOREFRONT_SHOP_ADDR        the demo shop's address (default 127.0.0.1:8080;
#                               the services' CORS allows :8080)
#   STOREFRONT_UP_TIMEOUT       seconds to wait for health (default 180)
#   STOREFRONT_SEED_PRODUCTS    demo products to seed (default 1000)
#   STOREFRONT_SKIP_SEED=1      do not seed on up
#   STOREFRONT_SKIP_BUILD=1     use the existing service images on up
#   STOREFRONT_PROMETHEUS_IMAGE  a Prometheus image to use instead of the one
#                               tools/images/prometheus.sh builds
#   STOREFRONT_SERVICE_TOKEN_TTL  lifetime of minted service tokens (default 720h)
#   COMPOSE_PROJECT_NAME        compose project (default storefront)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
project="${COMPOSE_PROJECT_NAME:-storefront}"
images_env="$repo/.cache/images.env"
ctl="$repo/bin/storefrontctl"
tokens_dir="$repo/.cache/compose/tokens"
shop_bin="$repo/bin/shopfront"
shop_pid="$repo/.cache/compose/shopfront.pid"
shop_log="$repo/.cache/compose/shopfront.log"
token_ttl="${STOREFRONT_SERVICE_TOKEN_TTL:-720h}"
up_timeout="${STOREFRONT_UP_TIMEOUT:-180}"

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# compose runs docker compose (v2 plugin) when present, else docker-compose v1.
compose_cmd=()
compose() {
	if [ "${#compose_cmd[@]}" -eq 0 ]; then
		if docker compose version >/dev/null 2>&1; then
			compose_cmd=(docker compose)
		elif command -v docker-compose >/dev/null 2>&1; then
			compose_cmd=(docker-compose)
		else
			die "neither 'docker compose' nor 'docker-compose' is installed"
		fi
		compose_cmd+=(-p "$project" -f "$here/compose.yaml")
		if [ "${STOREFRONT_PUBLISH_INFRA:-0}" = 1 ]; then
			compose_cmd+=(-f "$here/compose.infra-ports.yaml")
		fi
	fi
	"${compose_cmd[@]}" "$@"
}

# load_images exports the Postgres and NATS image choice of ensure-deps.sh.
load_images() {
	if [ -f "$images_env" ]; then
		set -a
		# shellcheck disable=SC1090
		. "$images_env"
		set +a
	fi
}

check_docker() {
	command -v docker >/dev/null || die "docker not found"
	docker info >/dev/null 2>&1 || die "docker daemon not reachable"
}

build_ctl() {
	log "building bin/storefrontctl"
	(cd "$repo" && go build -o "$ctl" ./tools/storefrontctl) || die "go build of storefrontctl failed"
}

# wait_healthy waits until every service of the project runs and every
# container with a health check reports healthy.
wait_healthy() {
	local deadline=$((SECONDS + up_timeout)) want ids id line name state health pending last_report=0
	want="$(compose config --services | wc -l | tr -d ' ')"
	log "waiting up to ${up_timeout}s for $want services to be healthy"
	while :; do
		pending=()
		# -a: compose v2 lists only running containers without it.
		read -r -a ids <<<"$(compose ps -a -q | tr '\n' ' ')"
		if [ "${#ids[@]}" -lt "$want" ]; then
			pending+=("$((want - ${#ids[@]})) not created")
		fi
		if [ "${#ids[@]}" -gt 0 ]; then
			while read -r line; do
				read -r name state health <<<"$line"
				if [ "$state" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
					pending+=("${name#/}=$state/$health")
				fi
			done < <(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${ids[@]}")
		fi
		if [ "${#pending[@]}" -eq 0 ]; then
			log "all $want services are healthy"
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "error: not healthy after ${up_timeout}s: ${pending[*]}"
			compose ps >&2 || :
			for id in "${ids[@]}"; do
				# The output of the newest probe of each container that is not healthy.
				docker inspect -f '{{$out := ""}}{{if .State.Health}}{{if ne .State.Health.Status "healthy"}}{{range .State.Health.Log}}{{$out = .Output}}{{end}}{{end}}{{end}}{{if $out}}{{.Name}}: last health check: {{$out}}{{end}}' "$id" | sed '/^$/d' >&2 || :
			done
			log "last log lines:"
			compose logs --no-color --tail 40 >&2 || :
			die "the stack did not become healthy; see above, then 'make down' (or raise STOREFRONT_UP_TIMEOUT)"
		fi
		if [ $((SECONDS - last_report)) -ge 10 ]; then
			log "waiting: ${pending[*]}"
			last_report=$SECONDS
		fi
		sleep 2
	done
}

# mint_tokens writes the service tokens the stack mounts read-only at
# /etc/storefront/tokens, signed with the dev key. Services re-read them when
# they change, so a re-mint reaches a running stack. The directory is
# mounted, not the files, because a bind-mounted file would pin the old inode.
mint_tokens() {
	[ -x "$ctl" ] || build_ctl
	mkdir -p "$tokens_dir"
	chmod 0755 "$tokens_dir"
	# orders calls catalogue's ReserveStock/ReleaseStock as role "service".
	"$ctl" token --key "$here/dev-signing-key.json" --sub orders --role service --ttl "$token_ttl" \
		>"$tokens_dir/.orders-catalogue.jwt.tmp" || die "cannot mint the orders service token"
	chmod 0644 "$tokens_dir/.orders-catalogue.jwt.tmp"
	mv "$tokens_dir/.orders-catalogue.jwt.tmp" "$tokens_dir/orders-catalogue.jwt"
	log "minted service tokens in ${tokens_dir#"$repo"/} (valid $token_ttl)"
}

# start_shop builds tools/shopfront and runs it in the background on
# 127.0.0.1:8080 (STOREFRONT_SHOP_ADDR) with a dev customer token; stop_shop
# ends it. The page calls the services from the browser, so it is a host
# process next to the published ports rather than a container.
# build_shop builds the demo shop and mints its customer token into
# shop_token.
build_shop() {
	(cd "$repo" && go build -o "$shop_bin" ./tools/shopfront) || die "go build of shopfront failed"
	shop_token="$("$ctl" token --key "$here/dev-signing-key.json" --sub shopper --role customer --ttl 12h)" ||
		die "cannot mint the shop token"
}

start_shop() {
	stop_shop
	build_shop
	local addr="${STOREFRONT_SHOP_ADDR:-127.0.0.1:8080}"
	mkdir -p "$(dirname "$shop_pid")"
	STOREFRONT_TOKEN="$shop_token" nohup "$shop_bin" -addr "$addr" >"$shop_log" 2>&1 &
	echo $! >"$shop_pid"
	for _ in $(seq 1 50); do
		if curl -fsS "http://$addr/healthz" >/dev/null 2>&1; then
			log "demo shop on http://$addr (log ${shop_log#"$repo"/})"
			return 0
		fi
		sleep 0.2
	done
	die "the demo shop did not start; see ${shop_log#"$repo"/}"
}

stop_shop() {
	if [ -f "$shop_pid" ]; then
		kill "$(cat "$shop_pid")" 2>/dev/null || true
		rm -f "$shop_pid"
	fi
}

seed() {
	[ -x "$ctl" ] || build_ctl
	local token
	token="$("$ctl" token --key "$here/dev-signing-key.json" --sub make-seed --role admin --ttl 10m)" ||
		die "cannot mint the seed token"
	log "seeding ${STOREFRONT_SEED_PRODUCTS:-1000} demo products"
	STOREFRONT_TOKEN="$token" "$ctl" --addr 127.0.0.1:50051 --timeout 30s \
		seed --products "${STOREFRONT_SEED_PRODUCTS:-1000}" ||
		die "seeding failed (the stack is up; retry with 'make seed')"
}

endpoints() {
	cat <<'EOF'

Storefront is up (compose project storefront).

  service     gRPC              HTTP (Connect, gRPC-Web, probes)   metrics
  catalogue   127.0.0.1:50051   http://127.0.0.1:8081              http://127.0.0.1:9091/metrics
  orders      127.0.0.1:50052   http://127.0.0.1:8082              http://127.0.0.1:9092/metrics
  analytics   127.0.0.1:50053   http://127.0.0.1:8083              http://127.0.0.1:9093/metrics
  demo shop   http://127.0.0.1:8080 (tools/shopfront, a browser client; orders as "shopper")
  prometheus  http://127.0.0.1:9090 (scrapes the three; the chart's alert rules under /alerts)

Try:
  curl -s http://127.0.0.1:8081/readyz
  go tool grpcurl -plaintext 127.0.0.1:50051 list
  go tool grpcurl -plaintext -d '{"query": "coffee", "page_size": 3}' \
      127.0.0.1:50051 catalogue.v1.CatalogueService/SearchProducts
  curl -s -H 'Content-Type: application/json' \
      -d '{"query": "coffee", "page_size": 3}' \
      http://127.0.0.1:8081/catalogue.v1.CatalogueService/SearchProducts
  go run ./tools/storefrontctl products search coffee
  export STOREFRONT_TOKEN="$(go run ./tools/storefrontctl token --sub alice --role admin)"
  go run ./tools/storefrontctl products create --sku MUG-01 --name Mug --category home-kitchen --price 9.99 --stock 5

Stop with 'make down' (keeps data) or 'make down-volumes' (drops it).
EOF
}

cmd="${1:-}"
case "$cmd" in
up)
	check_docker
	bash "$repo/tools/images/ensure-deps.sh" >/dev/null
	load_images
	log "postgres image $STOREFRONT_POSTGRES_IMAGE, nats image $STOREFRONT_NATS_IMAGE"
	if [ "${STOREFRONT_SKIP_BUILD:-0}" != 1 ]; then
		bash "$repo/tools/images/services.sh"
	fi
	# Prometheus comes from Debian's package unless an image is named.
	if [ -z "${STOREFRONT_PROMETHEUS_IMAGE:-}" ]; then
		bash "$repo/tools/images/prometheus.sh"
	fi
	build_ctl
	mint_tokens
	compose up -d --remove-orphans
	wait_healthy
	if [ "${STOREFRONT_SKIP_SEED:-0}" != 1 ]; then
		seed
	fi
	start_shop
	endpoints
	;;
down)
	stop_shop
	check_docker
	load_images
	compose down --remove-orphans
	;;
down-volumes)
	stop_shop
	check_docker
	load_images
	compose down --remove-orphans --volumes
	;;
seed)
	check_docker
	build_ctl
	seed
	;;
tokens)
	build_ctl
	mint_tokens
	;;
shop)
	build_ctl
	build_shop
	log "demo shop on http://${STOREFRONT_SHOP_ADDR:-127.0.0.1:8080}"
	STOREFRONT_TOKEN="$shop_token" exec "$shop_bin" -addr "${STOREFRONT_SHOP_ADDR:-127.0.0.1:8080}"
	;;
ps)
	load_images
	compose ps
	;;
logs)
	load_images
	shift
	compose logs "$@"
	;;
endpoints)
	endpoints
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
