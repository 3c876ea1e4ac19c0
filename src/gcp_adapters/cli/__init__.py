"""The `gcp` command."""
