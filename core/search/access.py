"""Who may touch which study on a shared server.

The model: a visitor writes only to studies their own browser created (this session, or an
earlier session of the same browser: the study's ``OWNER_ATTR`` holds that browser's owner key,
see ``ui/studies.py``); the operator may
share studies by listing them in the server configuration (``$MNIST1D_LAB_SHARED_STUDIES`` or
the app's secrets), ``name`` for read-only and ``name:writable`` for studies visitors may add
trials to. A visitor watches only their own studies and the shared ones. The CLI is the
operator's tool and is not restricted.
"""

import os
from dataclasses import dataclass, field
from typing import Collection, Mapping

SHARED_ENV = "MNIST1D_LAB_SHARED_STUDIES"
WRITABLE = "writable"
OWNER_ATTR = "lab_owner"   # study user attr: the owner key of the browser that created it


class StudyAccessError(ValueError):
    """A visitor asked for a study they may not use; the message is safe to show them."""


@dataclass(frozen=True)
class StudyAccess:
    shared: Mapping[str, bool] = field(default_factory=dict)   # name -> writable by visitors

    @classmethod
    def from_text(cls, text: str | None) -> "StudyAccess":
        """``"a, b:writable"``: a is shared read-only, b writable. Raises ValueError on a bad
        entry so that a misconfigured server says so at start."""
        shared = {}
        for entry in (text or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            name, _, mode = entry.partition(":")
            if not name or mode not in ("", WRITABLE):
                raise ValueError(f"{SHARED_ENV}: bad entry {entry!r}; use NAME or "
                                 f"NAME:{WRITABLE}, separated by commas")
            shared[name.strip()] = mode == WRITABLE
        return cls(shared)

    @classmethod
    def configured(cls, secrets: Mapping | None = None) -> "StudyAccess":
        return cls.from_text((secrets or {}).get(SHARED_ENV) or os.environ.get(SHARED_ENV))

    def watchable(self, owned: Collection[str]) -> list[str]:
        """The studies a visitor may watch: their own, then the shared ones."""
        return sorted(owned) + sorted(n for n in self.shared if n not in owned)

    def check_write(self, name: str, owned: Collection[str], exists: bool,
                    owner: str | None = None, stored_owner: str | None = None) -> None:
        """Refuse writing to a study this browser did not create, unless shared writable.
        ``owner`` is the visitor's owner key, ``stored_owner`` the study's mark (an existing
        study's; None when unmarked). An empty name is nobody's to write to."""
        if not isinstance(name, str) or not name.strip():
            raise StudyAccessError("the study name is empty: name the study")
        if name in owned or self.shared.get(name) or (
                exists and owner is not None and stored_owner == owner):
            return
        if name in self.shared:
            raise StudyAccessError(f"study {name!r} is shared read-only: watch it, or start "
                                   "a study under another name")
        if exists:
            raise StudyAccessError(f"study {name!r} belongs to someone else: pick another name")
