"""The address book (objects, containers, MIds) and its fixture loaders."""

from fakegc.directory.model import AbObject, Container, Directory, sort_key

__all__ = ["AbObject", "Container", "Directory", "sort_key"]
