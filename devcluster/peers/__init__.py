"""Programs packaged as the local node's stand-in images (see devcluster/images.py)."""
