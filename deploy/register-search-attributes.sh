#!/bin/sh
# Registers the contract's search attributes on a Temporal cluster; safe to run again.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; do
  echo "waiting for namespace $ns"; sleep 2
done
for pair in ClientId=Keyword ClientTier=Keyword ComplaintStage=Keyword ComplaintSeverity=Keyword \
  ComplaintCategory=Keyword ComplaintChannel=Keyword ResponsibleDepartment=Keyword \
  SlaDeadline=Datetime SlaBreached=Bool ReopenCount=Int NextServiceDue=Datetime \
  ServiceStatus=Keyword; do
  name="${pair%%=*}"; type="${pair#*=}"
  temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" \
    || echo "search attribute $name already present"
done
