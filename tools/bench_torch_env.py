"""What a PyTorch bench process reports about itself: its peak resident memory and the
allocator it runs on (tcmalloc or jemalloc when preloaded, else glibc's malloc), read from
/proc so the report says what was loaded, not what was asked for."""
import re


def peak_mib():
    # VmHWM, not getrusage: ru_maxrss survives exec, so a child would report its parent's peak.
    return int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024


def allocator():
    maps = open("/proc/self/maps").read()
    for name in ("tcmalloc", "jemalloc"):
        if f"lib{name}" in maps:
            return name
    return "glibc"
