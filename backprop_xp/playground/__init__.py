"""The live playground: a local web page that trains the package's own engine, one session per tab.

:mod:`.sessions` owns the training sessions and the limits on what a request
may ask; :mod:`.server` serves the page and the JSON API with the standard
library's ``http.server``. Start it with ``backprop-xp playground``.
"""

from __future__ import annotations

from .server import make_server, serve
from .sessions import LIMITS, Session, SessionStore

__all__ = ["LIMITS", "Session", "SessionStore", "make_server", "serve"]
