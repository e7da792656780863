"""vidgen studio: a local web app over the library (motion editor, review, dashboard).

``vidgen serve DIR`` runs :func:`create_app` with uvicorn; see ``docs/studio.md``.
"""

from vidgen.web.app import create_app, is_loopback, resolve_access

__all__ = ["create_app", "is_loopback", "resolve_access"]
