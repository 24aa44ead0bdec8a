"""The messages people receive: Jinja2 templates a firm edits, one file per message and language.

`config/messages/<language>/<template>.txt` holds a `subject` block and a `body` block of plain
text (what an SMS carries, and an e-mail's text part); `config/messages/layout.html` wraps an
e-mail's subject and body in HTML, autoescaped, so a name or a measure filled in at send time can
never become markup. A template may use only the variables its message is given (`VARIABLES`):
the catalogue is checked when the worker starts, and a missing file, a template that does not
parse or one that uses a variable its message does not have is refused naming it, before any
message goes out. Rendering is strict too: an undefined variable is an error, not a blank.

The outbox row and the workflow history hold the template id and non-personal parameters only;
the names, measures and reasons a message shows are read and decrypted at send time
(`activities.delivery`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import jinja2
from jinja2 import meta

from domain.client import Language
from domain.policy import Policy
from infra.settings import ROOT

DEFAULT_DIR = ROOT / "config" / "messages"
LANGUAGES: tuple[str, ...] = get_args(Language)
DEFAULT_LANGUAGE = "zh-CN"

_CLIENT = ("name",)
_COMPLAINT = (*_CLIENT, "complaint_id", "deadline")
_STAFF_COMPLAINT = ("recipient_id", "complaint_id", "stage", "severity", "deadline")
_EVENT = (*_CLIENT, "event_id", "event_title", "starts_at")
_REQUEST = (*_CLIENT, "request_id", "request_kind", "deadline")

# Every message the workflows queue, by template id, with the variables it is given.
VARIABLES: dict[str, tuple[str, ...]] = {
    # ClientServiceWorkflow: greetings (one template per greeted holiday, see `holiday_template`)
    "birthday_greeting": (*_CLIENT, "year"),
    "holiday_greeting": (*_CLIENT, "holiday", "year"),
    "callback_overdue": ("recipient_id", "task_id", "advisor_id"),
    # ClientServiceWorkflow: the advisor's duties falling due
    "callback_due": ("recipient_id", "client_id", "task_id", "due_at", "tier"),
    "plan_review_due": ("recipient_id", "client_id", "task_id", "due_at", "tier"),
    # ComplaintWorkflow, to the complainant
    "complaint_acknowledged": _COMPLAINT,
    "complaint_progress": (*_COMPLAINT, "event", "stage"),
    "complaint_extended": (*_COMPLAINT, "reason"),
    "complaint_resolution": (*_COMPLAINT, "outcome", "measures", "owner", "due"),
    "complaint_survey": _COMPLAINT,
    "complaint_survey_reminder": _COMPLAINT,
    "complaint_closed": (*_COMPLAINT, "outcome"),
    "complaint_withdrawn": _COMPLAINT,
    "complaint_merged": _COMPLAINT,
    # ComplaintWorkflow, to staff
    "complaint_assigned": _STAFF_COMPLAINT,
    "complaint_assessment_overdue": _STAFF_COMPLAINT,
    "complaint_deadline_warning": _STAFF_COMPLAINT,
    "complaint_sla_breached": _STAFF_COMPLAINT,
    "complaint_reopened": _STAFF_COMPLAINT,
    # DataSubjectRequestWorkflow: to the client, and to the privacy officer when overdue
    "subject_request_acknowledged": _REQUEST,
    "subject_request_answered": (*_REQUEST, "outcome", "rejection", "hold", "restricted_until"),
    "subject_request_overdue": ("recipient_id", "request_id", "request_kind", "deadline"),
    # ClientEventWorkflow
    "event_invitation_seminar": _EVENT,
    "event_invitation_exchange": _EVENT,
    "event_invitation_outdoor": _EVENT,
}


def holiday_template(holiday: str) -> str:
    """`holiday_greeting.<slug>`: each greeted holiday has a message of its own."""
    slug = re.sub(r"[^a-z0-9]+", "_", holiday.lower()).strip("_")
    return f"holiday_greeting.{slug}"


def templates_for(policy: Policy) -> dict[str, tuple[str, ...]]:
    """Every template the policy can make the workflows send, with its variables."""
    out = {k: v for k, v in VARIABLES.items() if k != "holiday_greeting"}
    for holiday in policy.holidays.greet:
        out[holiday_template(holiday)] = VARIABLES["holiday_greeting"]
    return out


class TemplateError(Exception):
    """A template that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MessageCatalogue:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or DEFAULT_DIR
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directory),
            autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
            undefined=jinja2.StrictUndefined,
        )

    @staticmethod
    def path_of(template: str, language: str) -> str:
        return f"{language}/{template}.txt"

    def validate(self, templates: dict[str, tuple[str, ...]]) -> None:
        """Raises TemplateError naming every file that is missing, broken or asks for more."""
        problems: list[str] = []
        for name in ["layout.html"]:
            problems += self._check(name, ("subject", "paragraphs", "language"), blocks=())
        for template, variables in sorted(templates.items()):
            for language in LANGUAGES:
                problems += self._check(self.path_of(template, language), variables)
        if problems:
            raise TemplateError("message templates refused: " + "; ".join(problems))

    def _check(
        self, name: str, variables: tuple[str, ...], blocks: tuple[str, ...] = ("subject", "body")
    ) -> list[str]:
        path = self.directory / name
        if not path.is_file():
            return [f"{path}: missing"]
        try:
            source = path.read_text(encoding="utf-8")
            ast = self._env.parse(source)
        except (UnicodeDecodeError, jinja2.TemplateSyntaxError) as exc:
            return [f"{path}: does not parse ({type(exc).__name__}: {exc})"]
        problems = [
            f"{path}: unknown variable {v!r} (this message has: {', '.join(variables)})"
            for v in sorted(meta.find_undeclared_variables(ast) - set(variables))
        ]
        have = {b.name for b in ast.find_all(jinja2.nodes.Block)}
        problems += [f"{path}: no {{% block {b} %}}" for b in blocks if b not in have]
        return problems

    def render(self, template: str, language: str, values: dict[str, Any]) -> Rendered:
        if language not in LANGUAGES:
            language = DEFAULT_LANGUAGE
        tmpl = self._env.get_template(self.path_of(template, language))
        context = tmpl.new_context(dict(values))
        subject = " ".join("".join(tmpl.blocks["subject"](context)).split())
        text = "".join(tmpl.blocks["body"](context)).strip()
        paragraphs = [p.strip().split("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]
        html = self._env.get_template("layout.html").render(
            subject=subject, paragraphs=paragraphs, language=language
        )
        return Rendered(subject=subject, text=text, html=html)
