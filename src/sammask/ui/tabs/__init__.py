"""The web UI's tabs, one module each: ``build_*_tab`` functions that add their components and
events inside the caller's ``gr.Blocks`` / ``gr.Tab`` context (see :func:`sammask.ui.app.build_app`)."""
