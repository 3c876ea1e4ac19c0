"""`gcp demo`: the ten seed events, driven against a running `gcp serve`, for a newcomer.

It plays every other team in turn: the channel (HTTP `GET /certificates/next`, then the order
and the payment on All_SalesOrder and All_Payments), CRM (the CVC over HTTP, the delivery result
on All_Clients), support (lock and unlock over HTTP), an admin (a small pool that runs dry) and
BI (a count of what the stream carried). After each action it prints what the service published
on GiftCertificates.Stream, read by a consumer that starts at the end of the topic, so only this
run's publications appear.

A client of the service, not part of it: it reaches the service only over HTTP and Kafka, and
sends the messages of `gcp_app.inbound.builders` encoded by `gcp_adapters.kafka.encoding`.

- `command`: the command's arguments and its run (settings, token secret, addresses);
- `script`: the ten events, step by step (`Demo`);
- `watcher`: the stream and the DLQ, read from their ends, printed as they come;
- `console`: what the demo says, and how a step fails.
"""

from gcp_adapters.demo.command import add_arguments, run

__all__ = ["add_arguments", "run"]
