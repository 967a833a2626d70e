"""The pure core: pod dicts in, decisions and JSON Patch operations out; no I/O, no frameworks."""
