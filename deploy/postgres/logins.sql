-- The services' login roles, members of the group roles the migrations create. Run as the
-- read models' owner after `alembic upgrade head`; safe to run again (passwords are reset):
--   psql -v ON_ERROR_STOP=1 -v app_db=client_care -v worker_password=… -v codec_password=… \
--        -v reporting_password=… -v auditor_password=… -f logins.sql
SELECT format('CREATE ROLE %I LOGIN', name)
  FROM (VALUES ('cc_worker'), ('cc_codec'), ('cc_reporting'), ('cc_auditor')) AS wanted(name)
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name)
\gexec
ALTER ROLE cc_worker PASSWORD :'worker_password';
ALTER ROLE cc_codec PASSWORD :'codec_password';
ALTER ROLE cc_reporting PASSWORD :'reporting_password';
ALTER ROLE cc_auditor PASSWORD :'auditor_password';
GRANT client_care_writer TO cc_worker;
GRANT client_care_codec TO cc_codec;
GRANT client_care_reporting TO cc_reporting;
GRANT client_care_auditor TO cc_auditor;
GRANT CONNECT ON DATABASE :"app_db" TO cc_worker, cc_codec, cc_reporting, cc_auditor;
