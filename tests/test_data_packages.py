"""attnlib.data.packages: finding an installed package's files offline."""

from importlib import metadata

import pytest

from attnlib.data import packages, text
from attnlib.data.packages import MissingResourceError, package_folder

HINT = "pip install --no-deps some-package"


def _find(package, match):
    return package_folder(
        package, match, what="the files", expected="x.txt", install_hint=HINT
    )


def test_finds_the_folder_of_a_matching_file():
    folder = _find("pytest", lambda f: f == "pytest/__init__.py")
    assert folder.is_dir() and (folder / "__init__.py").is_file()


def test_missing_package_and_missing_file(monkeypatch):
    with pytest.raises(MissingResourceError, match="has no x.txt"):
        _find("pytest", lambda f: False)

    def not_found(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(packages.metadata, "distribution", not_found)
    with pytest.raises(
        MissingResourceError, match=f"install them with: {HINT}"
    ):
        _find("pytest", lambda f: True)


def test_old_import_path_still_works():
    assert text.package_folder is package_folder
    assert text.MissingResourceError is MissingResourceError
