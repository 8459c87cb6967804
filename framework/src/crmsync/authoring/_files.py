"""Files only their owner reads, replaced whole: the token file, the caches."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_private"]


def write_private(path: Path, data: bytes, *, make_parent: bool = False) -> None:
    """Replace ``path``'s content with ``data`` atomically, readable by its owner only.

    Written to a temporary file beside it (``mkstemp`` creates it 0600), flushed to
    disk, then renamed over ``path``: a reader in another process, or a crash, sees the
    old file or the new one, never half of one. ``make_parent`` creates a missing parent
    folder, owner-only too. Raises ``OSError``.
    """
    if make_parent:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
