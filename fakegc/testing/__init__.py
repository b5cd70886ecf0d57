"""Users' toolkit: pytest plugin, raw RPC client, hypothesis strategies."""
