"""What a cluster job asks for: SLURM options from the command line over site defaults from a TOML file.

Site defaults, first found wins: the ``--slurm-config`` file, else ``$PROBE_SLURM_CONFIG``, else
``./probe-slurm.toml`` (its top level or a ``[slurm]`` table), else the ``[slurm]`` table of the corpus config
(``--config``, ``$PROBE_DATA_CONFIG`` or ``./probe-data.toml``)::

    [slurm]
    partition = "gpu"
    gpus_per_task = 1
    cpus_per_task = 8
    mem = "32G"
    time = "4:00:00"
    array_parallelism = 16
    account = "my-lab"
    qos = "normal"
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SLURM_CONFIG_ENV = "PROBE_SLURM_CONFIG"
SLURM_CONFIG_NAME = "probe-slurm.toml"
DEFAULT_TIME_MIN = 24 * 60


class SettingsError(ValueError):
    """A SLURM option or site-defaults file that cannot be used."""


@dataclass(frozen=True)
class SlurmSettings:
    """Resources of one task (``None``: the cluster's default). ``mem_mb`` and ``time_min`` are parsed."""

    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem_mb: int | None = None
    time_min: int | None = None
    array_parallelism: int | None = None
    account: str | None = None
    qos: str | None = None

    def merged(self, **overrides: Any) -> SlurmSettings:
        """These settings with every override that is not ``None`` applied (``mem`` and ``time`` parsed)."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if "mem" in values:
            values["mem_mb"] = parse_mem(values.pop("mem"))
        if "time" in values:
            values["time_min"] = parse_time(values.pop("time"))
        unknown = set(values) - {f.name for f in fields(self)}
        if unknown:
            raise SettingsError(f"unknown SLURM setting(s) {', '.join(sorted(unknown))}")
        for key in ("gpus_per_task", "cpus_per_task", "array_parallelism"):
            value = values.get(key)
            if value is not None and (not isinstance(value, int) or value < (0 if key == "gpus_per_task" else 1)):
                raise SettingsError(f"{key} must be a whole number ≥ {0 if key == 'gpus_per_task' else 1}, "
                                    f"got {value!r}")
        return replace(self, **values)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for the submission record)."""
        return asdict(self)

    def describe(self) -> str:
        """``partition=gpu cpus/task=8 mem=32768M time=240min`` (only what is set)."""
        parts = [f"partition={self.partition}" if self.partition else "default partition"]
        if self.gpus_per_task:
            parts.append(f"gpus/task={self.gpus_per_task}")
        if self.cpus_per_task:
            parts.append(f"cpus/task={self.cpus_per_task}")
        if self.mem_mb:
            parts.append(f"mem={self.mem_mb}M")
        parts.append(f"time={self.time_min or DEFAULT_TIME_MIN}min")
        for key in ("account", "qos", "array_parallelism"):
            if getattr(self, key):
                parts.append(f"{key}={getattr(self, key)}")
        return " ".join(parts)


_MEM_UNITS = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_mem(value: str | int) -> int:
    """SLURM memory (``16G``, ``16000M``, ``16000`` = MB, ``1.5T``) in MB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(value), flags=re.IGNORECASE)
    if not match:
        raise SettingsError(f"memory must look like 16G, 16000M or 16000 (MB), got {value!r}")
    mb = float(match.group(1)) * _MEM_UNITS[match.group(2).upper()]
    if mb < 1:
        raise SettingsError(f"memory {value!r} is less than 1 MB")
    return int(round(mb))


def parse_time(value: str | int) -> int:
    """SLURM time (``90``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``) in whole minutes
    (seconds round up)."""
    text = str(value).strip()
    days = 0
    if "-" in text:
        day_text, text = text.split("-", 1)
        if not day_text.isdigit():
            raise SettingsError(f"time must look like 90, 2:00:00 or 1-12:00:00, got {value!r}")
        days = int(day_text)
    parts = text.split(":")
    if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3:
        raise SettingsError(f"time must look like 90, 2:00:00 or 1-12:00:00, got {value!r}")
    nums = [int(p) for p in parts]
    if "-" in str(value):  # D-HH[:MM[:SS]]
        nums += [0] * (3 - len(nums))
        hours, minutes, seconds = nums
    elif len(nums) == 1:
        hours, minutes, seconds = 0, nums[0], 0
    elif len(nums) == 2:
        hours, minutes, seconds = 0, nums[0], nums[1]
    else:
        hours, minutes, seconds = nums
    total = days * 24 * 60 + hours * 60 + minutes + (1 if seconds else 0)
    if total < 1:
        raise SettingsError(f"time {value!r} is under one minute")
    return total


def _read_table(path: Path, section_only: bool) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    if "slurm" in data:
        table = data["slurm"]
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: `slurm` must be a table ([slurm] partition = \"gpu\" ...)")
        return table
    return None if section_only else data


def site_defaults(slurm_config: Path | None = None, data_config: Path | None = None) -> tuple[SlurmSettings, Path | None]:
    """The site's default settings and the file they came from (``None``: no file, SLURM's own defaults)."""
    candidates: list[tuple[Path, bool, bool]] = []  # (path, must exist, [slurm] section only)
    if slurm_config is not None:
        candidates.append((Path(slurm_config).expanduser(), True, False))
    elif os.environ.get(SLURM_CONFIG_ENV):
        candidates.append((Path(os.environ[SLURM_CONFIG_ENV]).expanduser(), True, False))
    else:
        candidates.append((Path(SLURM_CONFIG_NAME), False, False))
        from extract.corpora.locate import CONFIG_ENV, CONFIG_NAME

        data = data_config or (os.environ.get(CONFIG_ENV) and Path(os.environ[CONFIG_ENV])) or Path(CONFIG_NAME)
        candidates.append((Path(data).expanduser(), False, True))
    for path, required, section_only in candidates:
        if not path.is_file():
            if required:
                raise SettingsError(f"SLURM settings file {path} does not exist")
            continue
        table = _read_table(path, section_only)
        if table is None:
            continue
        try:
            return SlurmSettings().merged(**{k.replace("-", "_"): v for k, v in table.items()}), path
        except SettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None
    return SlurmSettings(), None
