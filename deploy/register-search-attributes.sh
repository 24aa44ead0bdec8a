#!/bin/sh
# Creates the namespace if it is missing and registers the contract's search attributes on a
# Temporal cluster; safe to run again. Connection and TLS come from the CLI's environment
# (TEMPORAL_ADDRESS, TEMPORAL_TLS_CLIENT_CERT_PATH, ... see `temporal options`).
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health >/dev/null 2>&1; do
  echo "waiting for Temporal"; sleep 2
done
temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$ns" --retention "${NAMESPACE_RETENTION:-30d}"
for pair in ClientId=Keyword ClientTier=Keyword ComplaintStage=Keyword ComplaintSeverity=Keyword \
  ComplaintCategory=Keyword ComplaintChannel=Keyword ResponsibleDepartment=Keyword \
  SlaDeadline=Datetime SlaBreached=Bool ReopenCount=Int NextServiceDue=Datetime \
  ServiceStatus=Keyword; do
  name="${pair%%=*}"; type="${pair#*=}"
  temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" \
    || echo "search attribute $name already present"
done
