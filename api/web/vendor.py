"""The browser libraries Lore serves itself, so no page it serves fetches anything from another host.

``python -m api.web.vendor`` (run by ``make install``) downloads each pinned npm package with
``npm pack`` from the npm registry, checks its sha512 against the pin below, and copies the
built files the pages use, with the package's licence, into ``api/web/static/vendor/<name>/``.
Nothing is built and nothing runs at serve time: the files are served as they are.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"


@dataclass(frozen=True)
class VendoredPackage:
    name: str
    version: str
    integrity: str  # the npm registry's "sha512-<base64>" for the tarball
    licence: str
    files: tuple[str, ...]  # paths inside the package, copied flat into vendor/<name>/

    @property
    def folder(self) -> Path:
        return VENDOR_DIR / self.name


PACKAGES = (
    # Swagger UI for /docs (Apache-2.0).
    VendoredPackage("swagger-ui-dist", "5.36.0",
                    "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==",
                    "Apache-2.0", ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE")),
    # ReDoc for /redoc (MIT): the standalone bundle carries its dependencies.
    VendoredPackage("redoc", "2.5.2",
                    "sha512-sTJfItvRkcDTojB6wdLN4M+Ua6mlZwElV21Tf8Mn7IbQF/1Os6GvgQpZyLWPGZZHbhy7GC1Or1hTMHfz1vKh5A==",
                    "MIT", ("bundles/redoc.standalone.js", "bundles/redoc.standalone.js.LICENSE.txt", "LICENSE")),
    # Cytoscape.js draws the graph view (MIT).
    VendoredPackage("cytoscape", "3.35.0",
                    "sha512-sMvBIXiGMnhkCaWz2R06FwF/27MNlS+Tqvi17foO9UhnUg3XGZccKjxsvEqQFAQYMSSZmN5SxYzUYlQ0DOJJ3g==",
                    "MIT", ("dist/cytoscape.min.js", "LICENSE")),
)


def missing() -> list[VendoredPackage]:
    """Packages whose files are not all in place."""
    return [p for p in PACKAGES if not all((p.folder / Path(f).name).is_file() for f in p.files)]


def _sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(package: VendoredPackage) -> None:
    """Download, verify and unpack one package's files (replacing what was there)."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to fetch the web app's libraries (Debian: apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"{package.name}@{package.version}", "--silent", "--pack-destination", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        tarball = next(Path(tmp).glob("*.tgz")).read_bytes()
    if (actual := _sha512(tarball)) != package.integrity:
        raise RuntimeError(f"{package.name}@{package.version}: tarball sha512 {actual} does not match the pinned "
                           f"{package.integrity}; refusing to serve it")
    staging = package.folder.with_name(package.folder.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in package.files:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise RuntimeError(f"{package.name}@{package.version} has no file {name}")
            (staging / Path(name).name).write_bytes(member.read())
    shutil.rmtree(package.folder, ignore_errors=True)
    staging.rename(package.folder)


def main() -> int:
    todo = missing()
    for package in todo:
        print(f"web assets: {package.name}@{package.version} ({package.licence})", flush=True)
        fetch(package)
    if not todo:
        print("web assets: all in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
