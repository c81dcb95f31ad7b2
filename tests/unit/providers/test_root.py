"""The parent folder of an entry is opened the same way with openat2 and with the walk.

``Root.open_beneath`` uses ``openat2(RESOLVE_BENEATH)`` where the kernel has it
and the per-component walk elsewhere; both must open the right folder, follow
a link that stays inside, and refuse a symlinked component leading out or a
'..' that climbs above the root with the same ``PathEscapeError``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from reconcile.providers import File, PathEscapeError, _openat2, _root

Calls = list[str]


@pytest.fixture(params=["openat2", "walk"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Force one way of opening; yields the paths openat2 was called with."""
    calls: Calls = []
    if request.param == "openat2":
        monkeypatch.setattr(_openat2, "_OPENAT2", None)
        if not _openat2.has_openat2():
            pytest.skip("this kernel has no openat2 (or seccomp bars it)")
        real = _openat2.openat2_beneath

        def counted(dir_fd: int, rel: str) -> int:
            calls.append(rel)
            return real(dir_fd, rel)

        monkeypatch.setattr(_root, "openat2_beneath", counted)
    else:
        monkeypatch.setattr(_openat2, "_OPENAT2", False)
    return calls


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/a/b, an outside folder, links out of the root and one inside it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (root / "out").symlink_to(outside)
    (root / "a" / "up").symlink_to("../..")  # '..' above the root
    (root / "in").symlink_to("a/b")
    return root


def _same(fd: int, folder: Path) -> bool:
    opened, expected = os.fstat(fd), folder.stat()
    return (opened.st_dev, opened.st_ino) == (expected.st_dev, expected.st_ino)


@pytest.mark.parametrize(("path", "folder"), [("a/b/x", "a/b"), ("in/x", "a/b"), ("a/x", "a")])
def test_the_parent_folder_is_opened(way: Calls, tree: Path, path: str, folder: str) -> None:
    with _root.Root(tree).place(File(path, content="x")) as place:
        assert _same(place.folder(), tree / folder)
        assert place.name == "x"
    if way:
        assert way == [os.path.dirname(path)]  # one call, and it did the work


@pytest.mark.parametrize("path", ["out/x", "out/d/x", "a/up/outside/x", "a/up/x"])
def test_a_way_out_is_refused(way: Calls, tree: Path, path: str) -> None:
    root, res = _root.Root(tree), File(path, content="x")
    with pytest.raises(PathEscapeError, match="goes through a symlink") as caught:
        root.place(res, make=True).__enter__()
    assert repr(path) in str(caught.value)
    assert not (tree.parent / "outside" / "x").exists()
    assert not (tree.parent / "outside" / "d").exists()
    if way:
        assert way == [os.path.dirname(path)]  # tried, refused, and the walk said why


def test_the_kernel_refuses_each_way_out(tree: Path) -> None:
    """openat2 itself: a link out, '..' above the fd and an absolute path are EXDEV."""
    if not _openat2.has_openat2():
        pytest.skip("this kernel has no openat2 (or seccomp bars it)")
    root = os.open(tree, os.O_RDONLY)
    try:
        for rel in ("out", "a/up", "..", "a/../..", str(tree / "a")):
            with pytest.raises(OSError, match="Invalid cross-device link") as caught:
                os.close(_openat2.openat2_beneath(root, rel))
            assert caught.value.errno == errno.EXDEV, rel
        fd = _openat2.openat2_beneath(root, "in")
        try:
            assert _same(fd, tree / "a" / "b")
        finally:
            os.close(fd)
    finally:
        os.close(root)
