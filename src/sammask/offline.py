"""Nothing phones home: turn off every usage-telemetry channel of the libraries sammask uses.

sammask is used on CCTV and bodycam footage, often on air-gapped machines: it must make no
network connection nobody asked for (issue 14, class 8). Several libraries it imports send usage
data unless told not to; :func:`disable_telemetry` tells each of them, in code, and must run
before the library is imported (some read their switch once, at import). The entry points that
import those libraries call it: the CLI (every command), the service app, the UI, the SAM 2
runtimes (OpenVINO), the SAM 2 checkpoint lookup and the transformers SAM families (Hugging Face
Hub), the Hugging Face and text detectors and the Ray batch backend, so library use is covered too. Importing sammask
itself changes nothing.

======================  =======================================================================
library                 channel, and how it is turned off here
======================  =======================================================================
OpenVINO                model conversion (``openvino.tools.ovc``, imported by ``import openvino``)
                        sends Google Analytics events through ``openvino_telemetry`` and writes a
                        client id to ``~/intel/`` unless a consent file says no or ``CI=true``.
                        OpenVINO falls back to its own no-op ``telemetry_stub`` when
                        ``openvino_telemetry`` cannot be imported: this module makes that import
                        fail (``sys.modules["openvino_telemetry"] = None``) so the package is never
                        loaded; if it was already loaded, its consent is declined through the
                        documented ``CI`` switch (read at every conversion).
Gradio                  ``GRADIO_ANALYTICS_ENABLED=False`` (launch / event analytics to
                        api.gradio.app and the package-version check), read at each use.
Hugging Face Hub        ``HF_HUB_DISABLE_TELEMETRY=1`` (and ``DO_NOT_TRACK=1``), read at import of
                        ``huggingface_hub``: also set on its ``constants`` if already imported.
                        Downloads the user asks for (``hub:ID``, ``--checkpoint`` ids) still work.
transformers            uses the Hub's switch (same variables).
Ray                     ``RAY_USAGE_STATS_ENABLED=0`` (usage stats to usage-stats.ray.io) and
                        ``RAY_USAGE_STATS_PROMPT_ENABLED=0``; inherited by its worker processes.
======================  =======================================================================

Checked and found without such a channel (their docs and source, this version set): PyAV /
FFmpeg, OpenCV, PyTorch, ONNX Runtime (Linux; its telemetry is Windows ETW only), pycocotools,
supervision, trackers, FastAPI / uvicorn, typer.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)

__all__ = ["TELEMETRY_ENV", "disable_telemetry", "hf_hub_offline", "hub_cache_dir"]

TELEMETRY_ENV: dict[str, str] = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
}
"""Environment switches set by :func:`disable_telemetry` (inherited by child processes)."""


def disable_telemetry() -> None:
    """Turn off the usage telemetry of OpenVINO, Gradio, Hugging Face and Ray (idempotent).

    Call before importing those libraries (see the module docstring for each channel). Sets
    :data:`TELEMETRY_ENV` in ``os.environ`` (overriding a user's opposite value: privacy first)
    and blocks the ``openvino_telemetry`` package.
    """
    os.environ.update(TELEMETRY_ENV)
    loaded = sys.modules.get("openvino_telemetry")
    if loaded is None:
        # OpenVINO's ovc modules do `try: import openvino_telemetry except ImportError: telemetry_stub`
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # None in sys.modules makes the import fail (documented)
    else:  # imported before us: its consent check declines in CI (documented switch)
        os.environ["CI"] = "true"
        logger.debug("openvino_telemetry was already imported: declined through CI=true")
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_DISABLE_TELEMETRY = True  # type: ignore[attr-defined]  # a module from sys.modules is typed ModuleType; read once at import


_TRUE = ("1", "true", "yes", "on")


def hf_hub_offline() -> bool:
    """True when the environment forbids hub access (``HF_HUB_OFFLINE`` set to 1/true/yes/on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hub_cache_dir() -> str:
    """The Hugging Face hub cache folder (for messages): ``huggingface_hub``'s own setting, or
    without that package ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    disable_telemetry()  # Hugging Face telemetry: read at import of huggingface_hub
    try:
        from huggingface_hub import constants
    except ImportError:
        home = os.environ.get("HF_HOME", os.path.join("~", ".cache", "huggingface"))
        return os.environ.get("HF_HUB_CACHE", os.path.join(home, "hub"))
    return str(constants.HF_HUB_CACHE)
