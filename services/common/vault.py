"""Special-category data at rest: health answers (a client's intake) and free-text
notes are sealed before they reach Redis and opened after they leave it.

Fernet (`cryptography`): AES-128 in CBC mode with an HMAC-SHA256 over it, and a
timestamp; nothing hand-rolled. `SPA_DATA_KEY` holds one key, or several separated
by commas: the first seals, every one opens, so a key can be rotated without a
moment when old data cannot be read (`spa data rotate-key` seals everything anew
with the first key; then the old ones can be dropped).
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(Exception):
    """No key, a malformed key, or data sealed with a key no longer given."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class Vault:
    def __init__(self, keys: str):
        if not keys.strip():
            raise VaultError("SPA_DATA_KEY is not set: health answers and notes are "
                             "encrypted at rest with it (`spa data new-key` makes one)")
        try:
            self.fernet = MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()])
        except ValueError as error:
            raise VaultError(f"SPA_DATA_KEY is not a list of Fernet keys: {error}") from None

    def seal(self, value: object) -> str:
        return self.fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str) -> object:
        try:
            return json.loads(self.fernet.decrypt(token.encode()))
        except InvalidToken:
            raise VaultError("sealed with a key SPA_DATA_KEY no longer holds") from None

    def reseal(self, token: str) -> str:
        """The same value sealed with the first key (a rotation step)."""
        return self.fernet.rotate(token.encode()).decode()
