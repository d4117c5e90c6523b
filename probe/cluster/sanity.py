"""Refuse, before submission, a request that no node of the partition can ever satisfy.

SLURM accepts a job that asks for more CPUs, memory or GPUs than any node has, and it then pends forever
(reason ``Resources`` or ``ReqNodeNotAvail``). The nodes' sizes come from ``sinfo``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from probe.cluster.settings import DEFAULT_TIME_MIN, SettingsError, SlurmSettings, parse_time


class RequestError(ValueError):
    """A SLURM request that cannot run on this cluster, with what the cluster offers."""


@dataclass(frozen=True)
class NodeShape:
    """One node of one partition as ``sinfo`` reports it."""

    name: str
    partition: str
    default: bool
    cpus: int
    mem_mb: int
    gpus: int
    time_limit_min: int | None  # None: no limit
    up: bool


def _gpus(gres: str) -> int:
    """``gpu:a100:4(S:0-1),shard:8`` → 4; ``(null)`` → 0."""
    total = 0
    for item in gres.split(","):
        match = re.match(r"gpu(?::[^:(]+)?:(\d+)", item.strip())
        if match:
            total += int(match.group(1))
    return total


def _limit(text: str) -> int | None:
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    try:
        return parse_time(text)
    except SettingsError:
        return None


def _run(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        raise RequestError(f"`{command[0]}` is not on PATH: this machine is not a SLURM login node "
                           "(use --executor local to run here)")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise RequestError(f"`{' '.join(command)}` did not answer within 60 s; is slurmctld up?") from None
    if done.returncode != 0:
        raise RequestError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def node_shapes() -> list[NodeShape]:
    """Every (node, partition) pair from ``sinfo -N``."""
    out = _run(["sinfo", "-h", "-N", "-o", "%N|%P|%c|%m|%G|%l|%a"])
    shapes = []
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 7:
            continue
        name, partition, cpus, mem, gres, limit, avail = parts
        shapes.append(NodeShape(
            name=name, partition=partition.rstrip("*"), default=partition.endswith("*"),
            cpus=int(re.sub(r"\D", "", cpus) or 0), mem_mb=int(re.sub(r"\D", "", mem) or 0), gpus=_gpus(gres),
            time_limit_min=_limit(limit), up=avail.strip() == "up",
        ))
    return shapes


def check_request(settings: SlurmSettings, shapes: list[NodeShape] | None = None) -> str:
    """The partition the job will go to, or :class:`RequestError` saying why it could never start."""
    shapes = node_shapes() if shapes is None else shapes
    if not shapes:
        raise RequestError("sinfo lists no node; is this cluster configured?")
    partitions = sorted({s.partition for s in shapes})
    if settings.partition:
        name = settings.partition
        if name not in partitions:
            raise RequestError(f"partition {name!r} does not exist here; partitions: {', '.join(partitions)}")
    else:
        defaults = sorted({s.partition for s in shapes if s.default})
        if not defaults:
            raise RequestError(f"this cluster has no default partition; name one with --partition "
                               f"({', '.join(partitions)})")
        name = defaults[0]
    nodes = [s for s in shapes if s.partition == name]
    if not any(s.up for s in nodes):
        raise RequestError(f"partition {name!r} is not up (sinfo reports it down or drained)")
    wanted_cpus, wanted_mem, wanted_gpus = settings.cpus_per_task or 1, settings.mem_mb or 0, settings.gpus_per_task or 0
    fits = [s for s in nodes if s.cpus >= wanted_cpus and s.mem_mb >= wanted_mem and s.gpus >= wanted_gpus]
    if not fits:
        largest = max(nodes, key=lambda s: (s.gpus, s.cpus, s.mem_mb))
        raise RequestError(
            f"no node of partition {name!r} has {wanted_cpus} CPU(s), {wanted_mem} MB and {wanted_gpus} GPU(s) per "
            f"task; the largest has {largest.cpus} CPUs, {largest.mem_mb} MB, {largest.gpus} GPU(s) "
            f"({largest.name}). Such a job would pend forever: lower --cpus-per-task / --mem / --gpus-per-task"
        )
    limits = [s.time_limit_min for s in nodes]
    wanted_time = settings.time_min or DEFAULT_TIME_MIN
    if None not in limits and wanted_time > max(l for l in limits if l is not None):
        longest = max(l for l in limits if l is not None)
        raise RequestError(f"partition {name!r} allows at most {longest} minutes per job; asked for {wanted_time} "
                           "(set --time)")
    return name
