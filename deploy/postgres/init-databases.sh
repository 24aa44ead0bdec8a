#!/bin/sh
# Run once, as the superuser, by the postgres image when it initialises its data directory
# (mounted into /docker-entrypoint-initdb.d). Temporal gets its own role and databases and the
# read models their own owner; neither can connect to the other's databases, and nothing else
# runs as the superuser. The services' login roles come after the migrations (logins.sql).
set -eu
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"
: "${CLIENT_CARE_OWNER_PASSWORD:?set CLIENT_CARE_OWNER_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" \
  -v owner_password="$CLIENT_CARE_OWNER_PASSWORD" \
  -v app_db="${CLIENT_CARE_DB:-client_care}" <<'SQL'
-- Temporal: owner of its persistence and visibility databases, nothing more.
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
-- The read models: their owner runs the migrations, which create the group roles (CREATEROLE,
-- so it can also create the services' login roles afterwards), and is no superuser.
CREATE ROLE client_care_owner LOGIN CREATEROLE PASSWORD :'owner_password';
CREATE DATABASE :"app_db" OWNER client_care_owner;
REVOKE ALL ON DATABASE temporal, temporal_visibility, :"app_db" FROM PUBLIC;
SQL
