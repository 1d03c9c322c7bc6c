"""One router per resource of ``docs/PROTOCOL.md``."""
