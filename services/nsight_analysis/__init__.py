"""The analysis service: recipe jobs over sessions and collections, outputs in storage.

``create_app(settings, store)`` builds the ASGI app; the coordinator is reached only
over HTTP (``settings.coordinator_url``), never imported.
"""
