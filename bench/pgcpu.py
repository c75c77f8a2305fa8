"""CPU time the PostgreSQL server spends, read from /proc: the postmaster
(its own time plus that of backends it has reaped: cutime/cstime) and every
live child (backends, WAL writer, checkpointer, autovacuum). A difference of
two readings is the server's CPU between them, wherever the work ran."""
import os

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command (field 2) may hold spaces; the rest follows its closing parenthesis.
    fields = text[text.rindex(")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime, stime, cutime, cstime


def server_cpu_seconds(data_dir):
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    _, u, s, cu, cs = _stat(postmaster)
    total = u + s + cu + cs
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == postmaster:
            continue
        try:
            ppid, u, s, _, _ = _stat(int(entry))
        except (OSError, ValueError):
            continue  # gone meanwhile: its time is in the postmaster's cutime now
        if ppid == postmaster:
            total += u + s
    return total / TICKS
