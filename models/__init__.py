"""models stage of paragrid; see docs/FORMATS.md for what flows in and out."""
