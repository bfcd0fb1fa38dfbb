"""Quality measurement of redaction runs against ground truth.

- :mod:`sammask.eval.metrics`: leak, collateral (also relative to box masking), DAVIS J and F.
- :mod:`sammask.eval.groundtruth`: sequence folders (``video.mp4``, ``masks/``, ``gt.txt``).
- :mod:`sammask.eval.matching`: track ids to GT object ids by box IoU.
- :mod:`sammask.eval.runner`: :func:`~sammask.eval.runner.run_eval` (pipeline runs -> tables).
- :mod:`sammask.eval.oracle`: oracle-keyframe study (GT masks carried between keyframes).
- :mod:`sammask.eval.contact`: contact sheets.
- :mod:`sammask.eval.command`: the ``sammask eval`` typer command.

Importing this package imports nothing heavy; import the submodules you need.
"""
