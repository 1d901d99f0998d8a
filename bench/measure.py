"""Run a command and measure what it costs: wall time, peak memory of its process tree, disk writes.

Memory is the proportional set size (PSS) summed over the command and all its descendants, so
pages shared between Beam's worker processes (libraries, the page cache of mapped files) count
once in total rather than once per process. It is polled, so a peak shorter than the polling
interval can be missed. Disk writes come from the kernel's I/O accounting: ``write_bytes`` of a
reaped child is added to its parent's, so this process's own ``/proc/self/io`` delta covers the
whole tree, worker processes included, with no ``sync``. CPU time is split the same way: the
tree's own (``RUSAGE_CHILDREN``) against the whole machine's (``/proc/stat``), so each figure says
how busy other users kept the cores meanwhile.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.2
PROC = Path("/proc")
KTHREADD = 2
"""Parent of every kernel thread (writeback flushers, ext4 workers...)."""


def process_table(proc: Path = PROC) -> dict[int, tuple[int, float]]:
    """{pid: (parent pid, CPU seconds so far)} of every process visible now (vanishing ones skipped)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, float]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields resume after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return table


def parent_pids(proc: Path = PROC) -> dict[int, int]:
    """{pid: parent pid} of every process visible now."""
    return {pid: parent for pid, (parent, _) in process_table(proc).items()}


def descendants(root: int, parents: dict[int, int]) -> list[int]:
    """``root`` and every process below it, root first."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    tree, frontier = [root], [root]
    while frontier:
        frontier = [child for pid in frontier for child in children.get(pid, ())]
        tree += frontier
    return tree


def command_line(pid: int, proc: Path = PROC, limit: int = 120) -> str:
    """The process's command line, shortened (empty once it has exited)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:limit]


def pss_bytes(pid: int, proc: Path = PROC) -> int:
    """The process's PSS in bytes (0 once it has exited)."""
    try:
        text = (proc / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class MemoryPeak:
    """What the poller saw: the largest summed PSS, and of the root process alone."""

    peak_pss: int = 0
    peak_root_pss: int = 0
    peak_processes: int = 0
    peak_single_process_pss: int = 0
    """Largest summed PSS while the root was still alone (for the converter: index and plan)."""
    samples: int = 0
    at_peak: list[tuple[str, int]] = field(default_factory=list)
    """(command line, PSS) of each process at the summed peak."""

    def add(self, sizes: list[int], names: list[str] | None = None) -> None:
        """One poll: ``sizes`` is the PSS of each process of the tree, root first."""
        total = sum(sizes)
        self.samples += 1
        if total > self.peak_pss and names:
            self.at_peak = list(zip(names, sizes, strict=True))
        self.peak_pss = max(self.peak_pss, total)
        self.peak_root_pss = max(self.peak_root_pss, sizes[0] if sizes else 0)
        self.peak_processes = max(self.peak_processes, len(sizes))
        if len(sizes) == 1:
            self.peak_single_process_pss = max(self.peak_single_process_pss, total)


class TreeSampler(threading.Thread):
    """Polls the summed PSS of a process tree until stopped."""

    def __init__(self, root: int, interval: float = POLL_SECONDS) -> None:
        super().__init__(daemon=True)
        self._root, self._interval = root, interval
        self._halt = threading.Event()
        self.peak = MemoryPeak()

    def sample(self) -> None:
        tree = descendants(self._root, parent_pids())
        self.peak.add([pss_bytes(pid) for pid in tree], [command_line(pid) for pid in tree])

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self._interval)

    def stop(self) -> MemoryPeak:
        self._halt.set()
        self.join()
        return self.peak


def io_counters(pid: int | str = "self") -> dict[str, int]:
    """``/proc/PID/io`` as integers (includes every reaped descendant of the process)."""
    lines = (PROC / str(pid) / "io").read_text().splitlines()
    return {key: int(value) for key, value in (line.split(": ") for line in lines)}


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds used so far, by whom: subtract two readings to split an interval."""

    machine: float
    """Every core, every process, interrupts included."""
    stolen: float
    """Taken by the hypervisor from this virtual machine."""
    kernel_threads: float
    """Writeback flushers, filesystem workers...: partly our own writes' cost, partly other users'."""
    children: float
    """This process's reaped descendants: the measured command's whole tree once it has exited."""
    own: float
    """This process itself (the memory poller)."""

    @classmethod
    def now(cls) -> CpuClock:
        fields = [int(value) for value in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        ticks = os.sysconf("SC_CLK_TCK")
        kernel = sum(cpu for pid, (parent, cpu) in process_table().items() if KTHREADD in (pid, parent))
        children, own = (resource.getrusage(who) for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF))
        return cls(
            machine=(user + nice + system + irq + softirq) / ticks,
            stolen=steal / ticks,
            kernel_threads=kernel,
            children=children.ru_utime + children.ru_stime,
            own=own.ru_utime + own.ru_stime,
        )

    def since(self, earlier: CpuClock) -> dict[str, float]:
        """Seconds of each kind between ``earlier`` and this reading; ``others`` = other users' processes."""
        delta = {name: getattr(self, name) - getattr(earlier, name) for name in self.__dataclass_fields__}
        others = delta["machine"] - delta["children"] - delta["kernel_threads"] - delta["own"]
        return {
            **{name: round(value, 2) for name, value in delta.items()},
            "others": round(max(0.0, others), 2),
        }


def wait_for_quiet(limit_s: float, cores: float = 0.25, window_s: float = 2.0) -> float:
    """Wait (up to ``limit_s``) until other users' processes use under ``cores`` over ``window_s``.

    The machine is shared: starting a timed step while someone's test suite holds a core halves
    what a 2-worker conversion can get. Returns the seconds waited.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = CpuClock.now()
        time.sleep(window_s)
        if CpuClock.now().since(before)["others"] / window_s < cores:
            break
    return round(time.monotonic() - started, 1)


def used_bytes(path: Path) -> int:
    """Bytes in use on the filesystem holding ``path`` (noisy: other users write there too)."""
    stat = os.statvfs(path)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


def allocated_bytes(path: Path) -> int:
    """Disk blocks allocated to the files under ``path`` (page-granular, like ``write_bytes``)."""
    if not path.exists():
        return 0
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_blocks * 512 for p in files)


@dataclass
class Measurement:
    """The cost of one command."""

    name: str
    command: list[str]
    wall_s: float
    returncode: int
    peak_pss_bytes: int
    peak_root_pss_bytes: int
    peak_single_process_pss_bytes: int
    peak_processes: int
    write_bytes: int
    """Bytes the tree dirtied for storage, minus those cancelled by deleting files before writeback."""
    fs_used_delta_bytes: int
    """statvfs used bytes after minus before: a cross-check that other users' writes make noisy."""
    cpu_s: float = 0.0
    """CPU seconds of the command's tree (user + system)."""
    others_cpu_s: float = 0.0
    """CPU seconds other users' processes used meanwhile."""
    kernel_threads_cpu_s: float = 0.0
    """CPU seconds of kernel threads meanwhile (writeback of this step's writes, and others')."""
    stolen_cpu_s: float = 0.0
    poller_cpu_s: float = 0.0
    """CPU seconds of this process meanwhile: the cost of polling the tree's memory."""
    processes_at_peak: list[tuple[str, int]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_measured(
    name: str,
    command: Sequence[str],
    *,
    filesystem: Path,
    log_path: Path | None = None,
) -> Measurement:
    """Run ``command`` to completion, polling its tree's memory; its output goes to ``log_path``."""
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    io_before, fs_before = io_counters(), used_bytes(filesystem)
    clock = CpuClock.now()
    started = time.monotonic()
    try:
        process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        returncode = process.wait()
        wall = time.monotonic() - started
        peak = sampler.stop()
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    cpu = CpuClock.now().since(clock)
    io_after = io_counters()
    written = io_after["write_bytes"] - io_before["write_bytes"]
    cancelled = io_after["cancelled_write_bytes"] - io_before["cancelled_write_bytes"]
    return Measurement(
        name=name,
        command=list(command),
        wall_s=round(wall, 3),
        returncode=returncode,
        peak_pss_bytes=peak.peak_pss,
        peak_root_pss_bytes=peak.peak_root_pss,
        peak_single_process_pss_bytes=peak.peak_single_process_pss,
        peak_processes=peak.peak_processes,
        write_bytes=written - cancelled,
        fs_used_delta_bytes=used_bytes(filesystem) - fs_before,
        cpu_s=cpu["children"],
        others_cpu_s=cpu["others"],
        kernel_threads_cpu_s=cpu["kernel_threads"],
        stolen_cpu_s=cpu["stolen"],
        poller_cpu_s=cpu["own"],
        processes_at_peak=peak.at_peak,
    )
