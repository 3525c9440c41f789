"""The pure rules of clients on record: which intake a booking may rely on, what
preferences fill in, and the vault that seals answers at rest. No Redis, no Flask."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.booking.commands import SlotRequest
from services.booking.domain import (
    Intake,
    IntakeRecord,
    Preferences,
    intake_on_record,
    with_preferences,
)
from services.common.errors import IntakeRequired
from services.common.vault import Vault, VaultError, new_key

NOW = datetime(2027, 3, 5, 9, 0, tzinfo=UTC)
FINE = Intake(False, False, False)
PREGNANT = Intake(True, False, False)


def recorded(answers: Intake, days_ago: float) -> IntakeRecord:
    return IntakeRecord(answers, NOW - timedelta(days=days_ago))


def test_the_latest_intake_counts_whatever_the_order_they_are_listed_in():
    records = [recorded(PREGNANT, 1), recorded(FINE, 20)]
    assert intake_on_record(records, NOW, 30) == PREGNANT


def test_an_intake_is_valid_while_younger_than_its_period():
    assert intake_on_record([recorded(FINE, 29.9999)], NOW, 30) == FINE
    with pytest.raises(IntakeRequired) as refused:
        intake_on_record([recorded(FINE, 30)], NOW, 30)
    assert refused.value.extra == {"reason": "expired"}


def test_no_intake_on_record_is_missing():
    with pytest.raises(IntakeRequired) as refused:
        intake_on_record([], NOW, 30)
    assert refused.value.extra == {"reason": "missing"}


def test_a_preferred_gender_fills_in_only_where_the_request_names_none():
    wanted = SlotRequest("camden", "ashiatsu", 60, NOW)
    likes_male = Preferences(therapist_gender="male")
    assert with_preferences(wanted, likes_male).therapist_gender == "male"
    asked = replace(wanted, therapist_gender="female")
    assert with_preferences(asked, likes_male).therapist_gender == "female"
    assert with_preferences(wanted, Preferences()).therapist_gender is None


def test_the_vault_opens_what_it_sealed_and_nothing_it_did_not():
    vault = Vault(new_key())
    sealed = vault.seal({"pregnant": True})
    assert "pregnant" not in sealed and vault.open(sealed) == {"pregnant": True}
    with pytest.raises(VaultError, match="no longer holds"):
        Vault(new_key()).open(sealed)
    with pytest.raises(VaultError, match="not set"):
        Vault(" ")
    with pytest.raises(VaultError, match="not a list of Fernet keys"):
        Vault("not-a-key")


def test_a_rotated_vault_opens_old_tokens_and_reseals_them_with_the_new_key():
    old, new = new_key(), new_key()
    token = Vault(old).seal("answers")
    rotating = Vault(f"{new},{old}")
    resealed = rotating.reseal(token)
    assert Vault(new).open(resealed) == "answers"
