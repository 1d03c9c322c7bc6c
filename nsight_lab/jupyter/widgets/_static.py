"""Where the widgets' JavaScript and CSS live: plain files inside the package, no CDN, no bundler."""

from pathlib import Path

STATIC = Path(__file__).parent / "static"
