"""``python -m api.cli``: the ``lore`` command without the installed script."""

from api.cli import app

app()
