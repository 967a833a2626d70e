"""The first step of ``make run`` and ``make test``: can this machine run them at all?

It takes a second and runs before any build, so a machine that lacks something learns it in
the first minute, not after half an hour of Go builds. It checks what the set-up cannot
install on its own: root, Go, Debian's Python 3.11, and every tool of ``host-packages.mk``.

    python -m devcluster.preflight
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from devcluster.host_tools import MissingToolsError, every_tool, require

# Containers run as non-root users, so the venv's interpreter must be one they can read.
DEBIAN_PYTHON = Path("/usr/bin/python3.11")


def problems() -> list[str]:
    """Every reason this machine cannot run the local cluster, one line each."""
    found = []
    if os.geteuid() != 0:
        found.append("the real node needs root (cgroups, mounts, network namespaces)")
    if shutil.which("go") is None:
        found.append("go is not on PATH: the control plane and node are built from Go modules")
    if not DEBIAN_PYTHON.exists():
        found.append(f"{DEBIAN_PYTHON} is missing: apt-get install python3.11")
    try:
        require(*every_tool())
    except MissingToolsError as missing:
        found.append(str(missing))
    return found


def main() -> int:
    """Print one line per problem; exit 1 when there is any."""
    found = problems()
    for problem in found:
        print(f"[preflight] {problem}", file=sys.stderr)
    if found:
        return 1
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()
    print(
        f"[preflight] ok: root, {go[2] if len(go) > 2 else 'go'}, python3.11, "
        f"{len(every_tool())} host tools",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
