"""The run specification and the one gate every entry point passes before anything decodes.

- :mod:`sammask.spec.options`: the one option table (name, flag, default text, help, numeric
  bounds, the detection sources an option applies to) that the CLI flags, the service's and
  batch's ``JobSettings`` and the jobs page all take their wording and bounds from.
- :mod:`sammask.spec.run`: :class:`RunSpec` (every input and output of a run, its effective
  settings) and :func:`sammask.spec.run.gate`, which ``redact``, ``detect``, ``annotate``,
  ``batch``, the service (at submission) and the UI call before any work.
- :mod:`sammask.spec.gate`: :func:`check_paths`, the path checks the gate ends with (no output
  is or aliases an input or another output; ``-y`` for existing outputs; writable folders).
- :mod:`sammask.spec.containers`: the single-file output rule (``.mp4``, ``.m4v``, ``.mov``,
  ``.mkv`` holding H.264; HLS, DASH, ``.ffmeta``, raw frames refused).
"""

from sammask.spec.gate import InputRef, OutputRef, check_paths
from sammask.spec.options import OPTIONS, Option, Source
from sammask.spec.run import RunSpec

__all__ = ["OPTIONS", "InputRef", "Option", "OutputRef", "RunSpec", "Source", "check_paths"]
