"""The message templates (config/messages): every message the workflows queue exists in zh-CN
and en, uses only the variables it is given, and a broken catalogue is refused at start naming
the file and what is wrong."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from activities.client_events import EventKind
from activities.delivery import checked_catalogue
from activities.messages import (
    DEFAULT_DIR,
    LANGUAGES,
    VARIABLES,
    MessageCatalogue,
    TemplateError,
    templates_for,
)
from domain.client_service import GREETINGS
from domain.policy import HolidayPolicy, Policy
from infra.settings import Settings
from workflows.complaint_effects import _NOTICES
from workflows.subject_request import TEMPLATES as SUBJECT_REQUEST_TEMPLATES


def test_every_template_the_workflows_queue_is_in_the_catalogue() -> None:
    """From the sources the workflows take template ids from: the complaint's notices and its
    acknowledgement, the greetings' event kinds, the escalation, the event kinds' invitations."""
    queued = {n.template for notices in _NOTICES.values() for n in notices}
    queued |= {"complaint_acknowledged", "callback_overdue", "complaint_progress"}
    queued |= {"callback_due", "plan_review_due"}
    queued |= {k.value for k in GREETINGS}
    queued |= {f"event_invitation_{k.value}" for k in EventKind}
    queued |= set(SUBJECT_REQUEST_TEMPLATES)
    assert queued == set(VARIABLES)


def test_the_shipped_catalogue_is_valid_and_renders_every_message() -> None:
    catalogue = MessageCatalogue()
    templates = templates_for(Policy())
    catalogue.validate(templates)
    assert len(templates) == 29  # 5 holidays, the birthday, 23 others
    for template, variables in templates.items():
        for language in LANGUAGES:
            out = catalogue.render(template, language, dict.fromkeys(variables, "X"))
            assert out.subject and out.text and out.html.startswith("<!DOCTYPE html>")
            chinese = bool(re.search(r"[\u4e00-\u9fff]", out.subject))
            assert chinese == (language == "zh-CN"), (template, language)


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "messages"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def test_a_missing_template_is_refused_naming_it(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "en" / "complaint_extended.txt").unlink()
    with pytest.raises(TemplateError) as err:
        MessageCatalogue(d).validate(templates_for(Policy()))
    assert f"{d / 'en' / 'complaint_extended.txt'}: missing" in str(err.value)


def test_a_holiday_the_policy_greets_needs_its_template() -> None:
    policy = Policy.model_validate(
        {"holidays": HolidayPolicy(greet=["Qingming Festival"]).model_dump()}
    )
    with pytest.raises(TemplateError) as err:
        MessageCatalogue().validate(templates_for(policy))
    assert "holiday_greeting.qingming_festival.txt: missing" in str(err.value)


def test_an_unknown_variable_or_a_syntax_error_is_refused_naming_it(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    path = d / "zh-CN" / "complaint_resolution.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("{{ measures", "{{ phone"), "utf-8")
    broken = d / "en" / "birthday_greeting.txt"
    broken.write_text("{% block subject %}Hi {{ name {% endblock %}", "utf-8")
    with pytest.raises(TemplateError) as err:
        MessageCatalogue(d).validate(templates_for(Policy()))
    message = str(err.value)
    assert f"{path}: unknown variable 'phone'" in message
    assert f"{broken}: does not parse" in message


def test_the_worker_refuses_to_start_on_a_broken_catalogue(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "layout.html").unlink()
    with pytest.raises(TemplateError, match=r"layout\.html: missing"):
        checked_catalogue(Settings(client_care_templates=d), Policy())
    assert checked_catalogue(Settings(), Policy()).directory == DEFAULT_DIR


def test_the_language_is_a_client_file_field_old_files_default_to_chinese() -> None:
    from domain.client import ClientFile
    from workflows.client_service.models import ProfileUpdate

    old = ClientFile.model_validate(
        {"client_id": "c-1", "kind": "individual", "basic": {"name": "A"}}
    )
    assert old.language == "zh-CN"  # a file recorded before the field replays unchanged
    assert ProfileUpdate.model_validate({"language": "en"}).changes() == {"language": "en"}
    assert old.revised(language="en").language == "en"
    with pytest.raises(ValueError):
        old.revised(language="fr")
