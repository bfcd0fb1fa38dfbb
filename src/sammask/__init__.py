"""sammask: mask people and objects in video along their silhouettes.

Data flows one way: ``media`` (decode) -> ``tracks`` (prompts per frame) -> ``segmentation``
(masks per track) -> ``masking`` (rules + effects) -> ``media`` (encode), with ``pipeline.redact``
wiring the rooms and ``eval`` measuring the applied masks. Importing the package does no work.
"""

__version__ = "0.1.0"
