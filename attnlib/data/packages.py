"""Find the files of an installed data or weights package, offline.

The book's data sets and pre-trained weights come as ordinary pip packages.
:func:`package_folder` finds a file of an installed distribution through its
file list (without importing the package) and returns that file's folder; a
package that is missing, or lacks the expected file, raises
:class:`MissingResourceError` with the command that installs it.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

__all__ = ["MissingResourceError", "package_folder"]


class MissingResourceError(RuntimeError):
    """An optional offline resource (a data or weights package) is not
    installed."""


def package_folder(
    package: str, match, *, what: str, expected: str, install_hint: str
) -> Path:
    """The folder of the first file of the installed distribution ``package``
    whose path (with ``/`` separators) satisfies ``match``; a clear
    :class:`MissingResourceError` naming ``what`` and how to install it
    otherwise."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise MissingResourceError(
            f"{what} are not installed; install them with: {install_hint}"
        ) from None
    found = [f for f in (dist.files or []) if match(str(f).replace("\\", "/"))]
    if not found:
        raise MissingResourceError(
            f"the installed {package!r} package has no {expected}; "
            f"reinstall it with: {install_hint}"
        )
    folder = Path(found[0].locate()).parent
    if not folder.is_dir():
        raise MissingResourceError(
            f"{what} should be in {folder}, which does not exist; "
            f"reinstall with: {install_hint}"
        )
    return folder
