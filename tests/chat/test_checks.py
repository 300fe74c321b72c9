from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

# The checks include accounts.E001, which reads the accounts (test_auth_checks.py).
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"ASSISTANT_ENGINE": "gpt"}, "chat.E001"),
        ({"ASSISTANT_ENGINE": "responses", "OPENAI_API_KEY": ""}, "chat.E002"),
        ({"OPENAI_STATE_MODE": "memory"}, "chat.E003"),
    ],
)
def test_bad_assistant_settings_fail_the_system_check(
    settings: Any, overrides: dict[str, str], error: str
) -> None:
    for name, value in overrides.items():
        setattr(settings, name, value)
    with pytest.raises(SystemCheckError, match=error):
        call_command("check")


def test_default_settings_pass_the_system_check() -> None:
    call_command("check")
