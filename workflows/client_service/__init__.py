"""The client service workflow: `workflow` (its updates, signal and query), `service` (what they
and the run loop do), `effects` (what the outside is told, and the queue that tells it),
`models` (its messages); `legacy` replays runs started before the effects queue. The rules
themselves are `domain.client_service`."""

from workflows.client_service.workflow import ClientServiceWorkflow

__all__ = ["ClientServiceWorkflow"]
