"""The plan's JSON form shares documents with the steps: it must mask without mutating them."""

from __future__ import annotations

import json

import attrs
import pytest

import reconcile as rc
from reconcile.testing import MemoryProvider

SECRET = "correct-horse-battery"


@rc.resource("planjson_login")
class Login:
    name: str = rc.field(key=True)
    role: str = "user"
    password: str = rc.field(default="", sensitive=True)


@rc.resource("planjson_note")
class Note:
    name: str = rc.field(key=True)
    text: str = ""
    tags: dict[str, str] = rc.field(factory=dict)


def _plan() -> rc.Plan:
    logins, notes = MemoryProvider(Login), MemoryProvider(Note)
    logins.put(Login("secret", password="old-" + SECRET))
    notes.put(Note("plain", tags={"a": "1"}))
    desired = [Login("secret", password=SECRET), Note("plain", text="hi", tags={"a": "1"})]
    return rc.Reconciler([logins, notes]).plan(desired)


def test_writing_json_masks_secrets_and_leaves_the_steps_documents_as_they_were():
    plan = _plan()
    kept = {s.address: (dict(s.before or {}), dict(s.after or {})) for s in plan.steps}
    text = plan.to_json()
    assert SECRET not in text
    assert {s.address: (s.before, s.after) for s in plan.steps} == kept
    assert isinstance(plan.step("planjson_login[secret]").after["password"], rc.Redacted)
    changes = {c["address"]: c["change"] for c in json.loads(text)["resource_changes"]}
    secret = changes["planjson_login[secret]"]
    assert secret["after"]["password"] == "(sensitive)"
    assert secret["after_sensitive"] == ["password"]
    assert changes["planjson_note[plain]"]["after"]["tags"] == {"a": "1"}
    assert changes["planjson_note[plain]"]["sensitive_digests"] == {"before": {}, "after": {}}


def test_reading_json_turns_masks_back_into_digests_and_keeps_plain_documents():
    plan = _plan()
    back = rc.Plan.from_json(plan.to_json())
    assert back == plan
    secret = back.step("planjson_login[secret]")
    assert secret.after == plan.step("planjson_login[secret]").after
    assert isinstance(secret.after["password"], rc.Redacted)
    (change,) = secret.diff.changes
    assert isinstance(change.old, rc.Redacted)
    assert isinstance(change.new, rc.Redacted)
    assert back.step("planjson_note[plain]").after == {
        "name": "plain",
        "text": "hi",
        "tags": {"a": "1"},
    }


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (
            lambda e: e.update(action="explode"),
            r"\[1\] \(planjson_note\[plain\]\): action 'explode'",
        ),
        (lambda e: e.pop("change"), r"\[1\] \(planjson_note\[plain\]\): no 'change' field"),
        (lambda e: e.update(action_reason=7), r"action_reason 7 is not one of"),
    ],
)
def test_a_malformed_saved_plan_names_the_entry_and_the_field(corrupt, expected):
    doc = json.loads(_plan().to_json())
    corrupt(doc["resource_changes"][1])
    with pytest.raises(rc.InvalidStateError, match=expected):
        rc.Plan.from_json(json.dumps(doc))


def test_a_cycle_in_meta_is_refused_before_writing():
    meta: dict[str, object] = {}
    meta["self"] = meta
    plan = attrs.evolve(_plan(), meta=meta)
    with pytest.raises(ValueError, match="Circular"):
        plan.to_json()
