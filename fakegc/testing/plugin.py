"""pytest plugin entry point (``pytest11``): fixtures for a fake GC cluster.

Filled in by the toolkit work (issue #7); importing it must stay cheap.
"""
