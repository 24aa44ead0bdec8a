"""The contract's search attributes, typed. Never personal data: supervisors' filters only."""

from temporalio.common import SearchAttributeKey

CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")
CLIENT_TIER = SearchAttributeKey.for_keyword("ClientTier")
COMPLAINT_STAGE = SearchAttributeKey.for_keyword("ComplaintStage")
COMPLAINT_SEVERITY = SearchAttributeKey.for_keyword("ComplaintSeverity")
COMPLAINT_CATEGORY = SearchAttributeKey.for_keyword("ComplaintCategory")
COMPLAINT_CHANNEL = SearchAttributeKey.for_keyword("ComplaintChannel")
RESPONSIBLE_DEPARTMENT = SearchAttributeKey.for_keyword("ResponsibleDepartment")
SLA_DEADLINE = SearchAttributeKey.for_datetime("SlaDeadline")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
REOPEN_COUNT = SearchAttributeKey.for_int("ReopenCount")
NEXT_SERVICE_DUE = SearchAttributeKey.for_datetime("NextServiceDue")
SERVICE_STATUS = SearchAttributeKey.for_keyword("ServiceStatus")

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by the server on every run a schedule starts (a manual trigger too): the time the run was
due, not when it ran. A system attribute, so not in `ALL` (nothing registers it)."""

ALL = (
    CLIENT_ID,
    CLIENT_TIER,
    COMPLAINT_STAGE,
    COMPLAINT_SEVERITY,
    COMPLAINT_CATEGORY,
    COMPLAINT_CHANNEL,
    RESPONSIBLE_DEPARTMENT,
    SLA_DEADLINE,
    SLA_BREACHED,
    REOPEN_COUNT,
    NEXT_SERVICE_DUE,
    SERVICE_STATUS,
)
