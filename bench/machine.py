"""The name of this machine's folder in ``bench/results``, from the standard
library alone, so that the noxfile (outside any virtualenv) and the benchmarks
name a machine the same way."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess


def gpu_name() -> str | None:
    """The first NVIDIA GPU that ``nvidia-smi`` lists, or None."""
    if shutil.which("nvidia-smi") is None:
        return None
    listing = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, check=False).stdout.splitlines()
    return listing[0].strip() if listing else None


def machine_name(gpu: str | None = None) -> str:
    """``cpu-2core-HOST``, or ``gpu-NAME-HOST`` for a GPU's name."""
    host = socket.gethostname().split(".")[0].lower()[:20] or "unknown"
    if gpu:
        slug = "".join(c if c.isalnum() else "-" for c in gpu.lower()).strip("-")
        return f"gpu-{slug}-{host}"
    return f"cpu-{os.cpu_count()}core-{host}"
