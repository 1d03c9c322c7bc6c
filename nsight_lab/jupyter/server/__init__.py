"""The Jupyter server extension: nsight-lab's gateway, reached with the user's credentials.

The browser only ever talks to Jupyter; the handlers here add the API key or CA bundle
of ``~/.nsight-cloud.conf`` on the way to the gateway, so no credential reaches the page.
"""
