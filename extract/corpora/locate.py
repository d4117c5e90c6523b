"""Find corpora on disk, so that ``probe extract --model X`` can run without naming each corpus's folder.

Resolution, per corpus key:

1. the ``[corpora]`` table of a TOML config file, e.g. ``probe-data.toml``::

       [corpora]
       emodb = "/data/EmoDB"
       cafe = "CaFE_48k"          # relative paths are relative to the config file's folder

   The config file is the ``config`` argument, else the file named by ``$PROBE_DATA_CONFIG``, else
   ``./probe-data.toml`` when it exists (otherwise there is no config);
2. otherwise ``<data root>/<key>/`` when that folder exists; the data root is the ``data_root`` argument,
   else ``$PROBE_DATA_ROOT``, else ``./data``.

A config that names an unknown corpus key, or a folder that does not exist, is an error (:class:`LocateError`),
never silently skipped.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from extract.corpora.base import CorpusError

CONFIG_ENV = "PROBE_DATA_CONFIG"
ROOT_ENV = "PROBE_DATA_ROOT"
CONFIG_NAME = "probe-data.toml"
DEFAULT_DATA_ROOT = Path("data")

__all__ = [
    "CONFIG_ENV",
    "CONFIG_NAME",
    "ROOT_ENV",
    "LocateError",
    "config_path",
    "corpus_root",
    "corpus_roots",
    "read_config",
    "resolve_data_root",
]


class LocateError(CorpusError):
    """A corpus location cannot be resolved (bad config file, unknown key, missing folder)."""


def _known_keys() -> tuple[str, ...]:
    from extract.corpora import KEYS  # late import: the registry package may import this module

    return KEYS


def _unknown_key_message(key: str, where: str) -> str:
    keys = _known_keys()
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown corpus key {key!r} in {where}{hint}; known corpora: {', '.join(keys)}"


def config_path(config: str | Path | None = None) -> Path | None:
    """The config file to use: ``config``, else ``$PROBE_DATA_CONFIG``, else ``./probe-data.toml`` if present.

    An explicitly named file (argument or environment) that does not exist is an error.
    """
    if config is not None:
        path, source = Path(config).expanduser(), "the config argument"
    elif os.environ.get(CONFIG_ENV):
        path, source = Path(os.environ[CONFIG_ENV]).expanduser(), f"${CONFIG_ENV}"
    else:
        default = Path(CONFIG_NAME)
        return default if default.is_file() else None
    if not path.is_file():
        raise LocateError(f"config file {path} (from {source}) does not exist")
    return path


def read_config(path: str | Path) -> dict[str, Path]:
    """The ``[corpora]`` table of a config file as ``{key: folder}``, keys checked, folders not yet checked.

    Relative folders are taken relative to the config file's folder; ``~`` is expanded.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LocateError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LocateError(f"config file {path} is not valid TOML: {exc}") from None
    table = data.get("corpora", {})
    if not isinstance(table, dict):
        raise LocateError(f"config file {path}: `corpora` must be a table, e.g. [corpora] emodb = \"/data/EmoDB\"")
    roots: dict[str, Path] = {}
    for key, value in table.items():
        if key not in _known_keys():
            raise LocateError(_unknown_key_message(key, f"config file {path}"))
        if not isinstance(value, str) or not value.strip():
            raise LocateError(f"config file {path}: corpora.{key} must be a folder path string, got {value!r}")
        folder = Path(value).expanduser()
        roots[key] = folder if folder.is_absolute() else path.parent / folder
    return roots


def resolve_data_root(root: str | Path | None = None) -> Path:
    """The data root: ``root``, else ``$PROBE_DATA_ROOT``, else ``./data`` (it need not exist)."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).expanduser()
    return DEFAULT_DATA_ROOT


def corpus_roots(
    data_root: str | Path | None = None,
    config: str | Path | None = None,
    keys: Sequence[str] | None = None,
) -> dict[str, Path]:
    """The folder of every corpus that can be found, ``{key: folder}`` in registry order.

    ``keys`` limits the search (default: every corpus of the registry); a corpus the config names must exist,
    one looked up under the data root is simply absent from the result when its folder is missing.
    """
    known = _known_keys()
    wanted = list(known) if keys is None else list(dict.fromkeys(keys))
    for key in wanted:
        if key not in known:
            raise LocateError(_unknown_key_message(key, "the requested corpora"))
    cfg = config_path(config)
    configured = read_config(cfg) if cfg is not None else {}
    base = resolve_data_root(data_root)
    found: dict[str, Path] = {}
    for key in (k for k in known if k in wanted):
        if key in configured:
            folder = configured[key]
            if not folder.is_dir():
                raise LocateError(f"config file {cfg}: corpora.{key} = {str(folder)!r} is not an existing folder")
            found[key] = folder
        elif (base / key).is_dir():
            found[key] = base / key
    return found


def corpus_root(key: str, data_root: str | Path | None = None, config: str | Path | None = None) -> Path:
    """The folder of corpus ``key``, or a :class:`LocateError` that says where it was looked for."""
    found = corpus_roots(data_root=data_root, config=config, keys=[key])
    if key in found:
        return found[key]
    cfg = config_path(config)
    where = f"not in config file {cfg}, " if cfg is not None else "no config file, "
    raise LocateError(
        f"corpus {key!r} not found: {where}and no folder {resolve_data_root(data_root) / key}. Pass its folder "
        f"explicitly, add it under [corpora] in {CONFIG_NAME}, or set ${ROOT_ENV} to the folder that holds {key}/"
    )

