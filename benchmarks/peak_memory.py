"""Peak resident memory on Linux, as the benchmarks measure it: read a ``kB`` field of
/proc/self/status, and reset the peak (VmHWM) to the current RSS by writing 5 to
/proc/self/clear_refs (Linux >= 4.0), so that a peak is that of what ran after the reset."""

from __future__ import annotations


def proc_status_kib(field: str) -> int:
    """A ``kB`` field (VmRSS, VmHWM) of /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    """VmHWM back to the current RSS."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
