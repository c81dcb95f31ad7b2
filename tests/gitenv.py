"""One Git environment for tests: a repository user whose Git ignores the machine's
configuration, with a fixed author and committer (so tests can assert on them)."""

from __future__ import annotations

import os
from pathlib import Path

ANN = ("Ann Author", "ann@example.org")
CI_BOT = ("CI Bot", "ci@example.org")
GIT_ALONE = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git_env(
    home: Path, author: tuple[str, str] = ANN, committer: tuple[str, str] = CI_BOT
) -> dict[str, str]:
    """``os.environ`` for ``git`` run with ``home`` as HOME and no system or global config."""
    return {
        **os.environ,
        "HOME": str(home),
        **GIT_ALONE,
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": committer[0],
        "GIT_COMMITTER_EMAIL": committer[1],
        "GIT_OPTIONAL_LOCKS": "0",
    }
