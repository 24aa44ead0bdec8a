"""Every workflow type the service runs, in one list: the worker registers these classes and
`auditor.py replay` replays histories against them, so the two cannot drift apart."""

from __future__ import annotations

from workflows.client_events import ClientEventWorkflow
from workflows.client_service import ClientServiceWorkflow
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_matter import ComplaintMatterWorkflow
from workflows.kpi_report import KpiReportWorkflow
from workflows.policy_rollout import PolicyRolloutWorkflow
from workflows.subject_request import DataSubjectRequestWorkflow
from workflows.tier_review import TierReviewWorkflow

ALL_WORKFLOWS: list[type] = [
    ClientServiceWorkflow,
    ComplaintWorkflow,
    ComplaintMatterWorkflow,
    TierReviewWorkflow,
    KpiReportWorkflow,
    ClientEventWorkflow,
    PolicyRolloutWorkflow,
    DataSubjectRequestWorkflow,
]
