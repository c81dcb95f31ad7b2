"""Built-in providers: files, directories and symlinks under one root folder.

``local_providers(root)`` gives all three. Paths are relative to the root;
anything that would lead outside it is refused with :class:`PathEscapeError`
while planning, before anything is written. Writes are atomic and, unless
``durable=False``, fsynced before each step is recorded.
"""

from reconcile._util.errors import PathEscapeError

from ._kinds import Directory, File, Symlink
from ._local import Directories, Files, Symlinks, local_providers

__all__ = [
    "Directories",
    "Directory",
    "File",
    "Files",
    "PathEscapeError",
    "Symlink",
    "Symlinks",
    "local_providers",
]

for _obj in (Directories, Directory, File, Files, Symlink, Symlinks, local_providers):
    _obj.__module__ = "reconcile.providers"
del _obj
