#!/usr/bin/env bash
# Sets up a local PostgreSQL for the EdgeActors data store tests (idempotent).
# Runs as root, or as a user with sudo. Installs postgresql with apt-get when missing, starts the
# cluster, creates role 'edgeactors' (password 'edgeactors', LOGIN CREATEDB) and database
# 'edgeactors_test' owned by it, then prints the connection string:
#   export EDGEACTORS_TEST_POSTGRES="$(bash scripts/postgres-setup.sh | tail -1)"
set -euo pipefail

ROLE=edgeactors
PASSWORD=edgeactors
DB=edgeactors_test

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
else
  command -v sudo >/dev/null 2>&1 || { echo "postgres-setup: run as root or install sudo" >&2; exit 1; }
  SUDO=(sudo)
fi

# run a command as the postgres OS user
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else
    sudo -u postgres "$@"
  fi
}

if ! command -v pg_lsclusters >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "postgres-setup: installing postgresql with apt-get" >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
fi

# the first cluster listed (highest port-5432 one preferred)
read -r VER CLUSTER PORT STATUS < <(pg_lsclusters -h | awk '{print $1, $2, $3, $4}' | sort -k3,3n -k1,1nr | head -1) || true
if [ -z "${VER:-}" ]; then
  VER=$(ls /usr/lib/postgresql | sort -n | tail -1)
  echo "postgres-setup: creating cluster $VER main" >&2
  "${SUDO[@]}" pg_createcluster "$VER" main >&2
  read -r VER CLUSTER PORT STATUS < <(pg_lsclusters -h | awk '{print $1, $2, $3, $4}' | head -1)
fi

if [ "$STATUS" != "online" ]; then
  echo "postgres-setup: starting cluster $VER/$CLUSTER on port $PORT" >&2
  "${SUDO[@]}" pg_ctlcluster "$VER" "$CLUSTER" start >&2
fi

# wait until it accepts connections
for _ in $(seq 1 30); do
  if as_postgres psql -p "$PORT" -qtAc "SELECT 1" >/dev/null 2>&1; then break; fi
  sleep 1
done

psql_admin() { as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
  psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
else
  psql_admin -c "ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE $DB OWNER $ROLE" >&2
fi

CS="Host=127.0.0.1;Port=$PORT;Username=$ROLE;Password=$PASSWORD;Database=$DB"
# check TCP + password authentication on 127.0.0.1
if ! PGPASSWORD=$PASSWORD psql "host=127.0.0.1 port=$PORT user=$ROLE dbname=$DB" -qtAc "SELECT 1" >/dev/null; then
  echo "postgres-setup: cannot connect over TCP with password; check pg_hba.conf of cluster $VER/$CLUSTER" >&2
  exit 1
fi
echo "postgres-setup: ready (cluster $VER/$CLUSTER)" >&2
echo "$CS"
