"""The run specification and the one gate every entry point passes before anything decodes.

:func:`sammask.spec.gate.check_paths` decides whether a run's outputs can be written without
touching its inputs or each other; every command that writes files (``redact``, ``detect``,
``annotate``, ``batch``, the service, the UI, the image and matte tools) calls it first.
"""

from sammask.spec.gate import InputRef, OutputRef, check_paths

__all__ = ["InputRef", "OutputRef", "check_paths"]
