#!/usr/bin/env bash
# docker-entrypoint.sh initialises PGDATA on first start and runs postgres as
# the postgres OS user. It mirrors the parts of the official postgres image's
# entrypoint that our tests and compose files rely on: POSTGRES_USER,
# POSTGRES_PASSWORD(_FILE), POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD,
# POSTGRES_INITDB_ARGS, PGDATA and /docker-entrypoint-initdb.d.
set -Eeuo pipefail

log() { printf '%s\n' "$*" >&2; }

# file_env sets VAR from VAR or from the file named by VAR_FILE, like the
# official image, so secrets can be mounted instead of passed in the env.
file_env() {
	local var="$1" def="${2:-}"
	local file_var="${var}_FILE"
	local val="$def"
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		log "error: both $var and $file_var are set (but are exclusive)"
		exit 1
	fi
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!file_var:-}" ]; then
		val="$(<"${!file_var}")"
	fi
	export "$var"="$val"
	unset "$file_var"
}

# drop_privileges re-executes this script as the postgres OS user with
# whichever tool the rootfs provides.
drop_privileges() {
	export HOME=/var/lib/postgresql
	if command -v setpriv >/dev/null 2>&1; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
	fi
	exec runuser -u postgres -- "$0" "$@"
}

create_directories() {
	local uid
	uid="$(id -u)"
	mkdir -p "$PGDATA"
	# Allow the initdb.d scripts and postgres itself to write here as non-root.
	chmod 00700 "$PGDATA" || :
	mkdir -p /var/run/postgresql
	chmod 03775 /var/run/postgresql || :
	if [ "$uid" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres: '{}' +
		find /var/run/postgresql \! -user postgres -exec chown postgres: '{}' +
	fi
}

verify_minimum_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'EOM'
			Error: Database is uninitialized and superuser password is not specified.
			       You must specify POSTGRES_PASSWORD to a non-empty value for the
			       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

			       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
			       connections without a password. This is *not* recommended.
		EOM
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		log "warning: POSTGRES_HOST_AUTH_METHOD=trust allows connections without a password"
	fi
}

init_database_dir() {
	local pwfile=""
	if [ -n "$POSTGRES_PASSWORD" ]; then
		pwfile="$(mktemp)"
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	fi
	# Word splitting of POSTGRES_INITDB_ARGS is intended, as in the official image.
	# shellcheck disable=SC2086
	initdb --username="$POSTGRES_USER" ${pwfile:+--pwfile="$pwfile"} \
		--encoding=UTF8 --locale=C.UTF-8 \
		$POSTGRES_INITDB_ARGS
	if [ -n "$pwfile" ]; then
		rm -f "$pwfile"
	fi
}

setup_hba_conf() {
	{
		printf '\n'
		printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
}

temp_server_start() {
	# Unix socket only, so nothing can connect over TCP before init is done.
	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" \
		-o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
}

temp_server_stop() {
	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
}

psql_init() {
	psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

create_database() {
	if [ "$POSTGRES_DB" = postgres ]; then
		return
	fi
	local exists
	exists="$(psql_init --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<-'EOSQL'
		SELECT 1 FROM pg_database WHERE datname = :'db' ;
	EOSQL
	)"
	if [ -z "${exists// /}" ]; then
		psql_init --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db" ;
		EOSQL
		log "created database $POSTGRES_DB"
	fi
}

process_init_files() {
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				log "$0: running $f"
				"$f"
			else
				log "$0: sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			log "$0: running $f"
			psql_init --dbname "$POSTGRES_DB" -f "$f"
			;;
		*.sql.gz)
			command -v gunzip >/dev/null || { log "$0: gunzip not found for $f"; exit 1; }
			log "$0: running $f"
			gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB"
			;;
		*) log "$0: ignoring $f" ;;
		esac
	done
}

main() {
	# "docker run image -c fsync=off" means "postgres -c fsync=off".
	if [ "${1:0:1}" = '-' ]; then
		set -- postgres "$@"
	fi
	if [ "$1" != postgres ]; then
		exec "$@"
	fi

	: "${PGDATA:=/var/lib/postgresql/data}"
	export PGDATA
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
	export POSTGRES_HOST_AUTH_METHOD

	create_directories
	if [ "$(id -u)" = 0 ]; then
		drop_privileges "$@"
	fi

	if [ -s "$PGDATA/PG_VERSION" ]; then
		log "PostgreSQL Database directory appears to contain a database; Skipping initialization"
	else
		verify_minimum_env
		init_database_dir
		setup_hba_conf
		export PGPASSWORD="$POSTGRES_PASSWORD"
		temp_server_start
		create_database
		process_init_files
		temp_server_stop
		unset PGPASSWORD
		log "PostgreSQL init process complete; ready for start up."
	fi
	exec "$@"
}

main "$@"
