"""The Kafka adapter: clients for the inbound and outbound topics, and the embedded broker.

`mock_cluster` is the one module that touches librdkafka's experimental mock-cluster C API
(through ctypes); `embedded` starts such a cluster as the broker of a development process.
"""
