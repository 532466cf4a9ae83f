"""The account rule (workshop/cloud/accounts.py) while moto's IAM is still being imported."""

from __future__ import annotations

import sys
import types

from workshop.cloud import accounts


def test_a_key_while_iam_is_half_imported_is_the_default_account(monkeypatch):
    # Another thread's import puts moto.iam.models in sys.modules before its body has run
    # (CI: the first signed request of a class-mode cloud was a 500 AttributeError).
    half = types.ModuleType("moto.iam.models")
    monkeypatch.setitem(sys.modules, "moto.iam.models", half)
    assert accounts.account_for_key("AKIACLASSANN0000001") == accounts.DEFAULT_ACCOUNT
    assert accounts.account_for_key("210987654321") == "210987654321"


def test_an_issued_key_names_its_account(monkeypatch):
    class Backend:
        access_keys = {"AKIAISSUED000000001": object()}

    loaded = types.ModuleType("moto.iam.models")
    loaded.iam_backends = {"123456789012": {"global": Backend()}, "aws": {}}
    monkeypatch.setitem(sys.modules, "moto.iam.models", loaded)
    assert accounts.account_for_key("AKIAISSUED000000001") == "123456789012"
    assert accounts.account_for_key("AKIAOTHER0000000001") == accounts.DEFAULT_ACCOUNT
