"""Task-queue priorities: which work a worker takes first when its queue has a backlog.

Everything shares the contract's one task queue (`TEMPORAL_TASK_QUEUE`), so a holiday waking
the whole book queues tens of thousands of client-service workflow tasks in front of whatever
comes next. Temporal's priority keys order that backlog: a lower key is dispatched first, the
server's default (no key) is 3 of 1-5. A workflow's workflow tasks and activities inherit its
key, and so does its next run when it continues as new; a child started with a key of its own
keeps that key.

- complaints (`ComplaintWorkflow`, and the matter registry that starts them): a regulator's
  deadline runs on each, and the command's caller waits for the answer;
- no key (3): schedules (tier review, KPI report), reports, policy rollout, subject requests,
  anything not named here;
- client service and client events (`ClientServiceWorkflow`, `ClientEventWorkflow`): greetings,
  callbacks and invitations, bulk work that may be a few minutes late.

A priority orders a backlog; it reserves nothing: a worker busy with a greeting finishes it
first. Workflows started before these keys keep the default (3), still behind complaints.
"""

from __future__ import annotations

from typing import Final

COMPLAINT: Final = 1
CLIENT_SERVICE: Final = 4
