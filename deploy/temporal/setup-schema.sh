#!/bin/sh
# Temporal's schema on its own databases, as Temporal's own compose does it with admin-tools:
# run as the `temporal` role, which owns both databases (deploy/postgres/init-databases.sh),
# so nothing here needs the superuser. Safe to run again: setup-schema -v 0.0 only creates the
# version table when missing, update-schema applies what is new.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port="${DB_PORT:-5432}"
until nc -z -w 5 "$POSTGRES_SEEDS" "$port"; do echo "waiting for PostgreSQL"; sleep 2; done
for db in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  name="${db%%:*}"; schema="${db#*:}"
  tool="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $port -u $POSTGRES_USER --db $name"
  $tool setup-schema -v 0.0
  $tool update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
echo "Temporal schema is current"
