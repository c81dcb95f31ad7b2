"""The options every command shares, and how a command fails: the ``Common`` options
(configuration, state, parallelism, colour, source format), targeting, ``--git``, exit codes.

Used by the commands of ``_app`` and ``_gitops``; one place, so every command spells
its options alike.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import attrs
import click

from ._config import FORMATS
from ._kube import with_kube_hint
from ._output import Output
from ._session import Session

__all__ = [
    "EXIT_CHANGES",
    "EXIT_INTERRUPTED",
    "Common",
    "common_options",
    "fail",
    "git_option",
    "targeting_options",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


@attrs.frozen
class Common:
    """The options every command takes, gathered once: configuration, state, output."""

    config: str | None
    state: str | None
    parallelism: int
    color: bool | None
    source_format: str | None = None

    @property
    def output(self) -> Output:
        return Output(color=self.color)

    def session(self, paths: Sequence[str] = (), git: str | None = None) -> Session:
        return Session.open(
            paths,
            config=self.config,
            state=self.state,
            parallelism=self.parallelism,
            git=git,
            source_format=self.source_format,
        )


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add --config, --state, --parallelism, --color and --source-format as one ``common``."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        config: str | None,
        state: str | None,
        parallelism: int,
        color: bool | None,
        source_format: str | None,
        **kwargs: Any,
    ) -> Any:
        common = Common(config, state, parallelism, color, source_format)
        return fn(*args, common=common, **kwargs)

    options = [
        click.option("--config", type=click.Path(dir_okay=False), help="reconcile.toml to use"),
        click.option("--state", type=click.Path(dir_okay=False), help="state database path"),
        click.option("--parallelism", type=click.IntRange(1), default=10, show_default=True),
        click.option("--color/--no-color", default=None, help="colour (default: on a terminal)"),
        click.option(
            "--source-format",
            type=click.Choice(FORMATS),
            help="what the source's files hold (default: [source] format, else reconcile)",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def targeting_options(fn: F) -> F:
    """--include and --exclude, for plan and apply alike."""
    include = click.option(
        "--include", multiple=True, help="only this address and what it depends on"
    )
    exclude = click.option(
        "--exclude", multiple=True, help="leave out this address and what depends on it"
    )
    return include(exclude(fn))


def git_option(fn: F) -> F:
    """--git REPO[@REF][:PATH]: read desired state from a Git revision."""
    option = click.option(
        "--git", "git", metavar="REPO[@REF][:PATH]", help="read desired state from a Git revision"
    )
    return option(fn)


def fail(output: Output, message: str, code: int = 1) -> NoReturn:
    """Print ``message`` (with a Kubernetes hint when one fits) and exit with ``code``."""
    output.error(with_kube_hint(message))
    sys.exit(code)
