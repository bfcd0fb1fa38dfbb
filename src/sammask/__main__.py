"""``python -m sammask``: the same typer app as the ``sammask`` console script."""

from sammask.cli import app

if __name__ == "__main__":
    app(prog_name="sammask")
