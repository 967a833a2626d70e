"""Talking to the Kubernetes API: plain dicts over the official client's asyncio transport."""
