"""Web UI (Gradio): the annotator. ``sammask ui`` serves it; :func:`sammask.ui.app.build_app`
builds it (importing that module imports gradio)."""
