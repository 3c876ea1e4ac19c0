"""Adapters that plug the GCP application into the world: the CLI now; HTTP and Kafka next."""
