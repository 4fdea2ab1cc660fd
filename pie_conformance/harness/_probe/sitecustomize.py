"""The kit's probe inside the script's interpreter: records at exit what RUN005 needs (GPU visibility).

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``; the kit puts this folder there and names a
report file in ``PIE_CHECK_PROBE``. The variable is removed at once so that the script's own environment and
any interpreter it starts look as on the platform; only the process that imported this module writes the
report, and only at a normal interpreter exit (os._exit or a signal leave no report, which the rule accepts).
"""

import atexit
import json
import os
import sys

_path = os.environ.pop("PIE_CHECK_PROBE", None)
_pid = os.getpid()


def _report():
    if os.getpid() != _pid:  # a forked child running the inherited handler
        return
    torch = sys.modules.get("torch")
    cuda_initialized = False
    if torch is not None:
        try:
            cuda_initialized = bool(torch.cuda.is_initialized())
        except Exception:
            cuda_initialized = False
    data = {
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda_initialized": cuda_initialized,
        "torch_imported": torch is not None,
    }
    try:
        with open(_path, "w", encoding="utf-8") as f:
            json.dump(data, f)
    except OSError:
        pass


if _path:
    atexit.register(_report)
