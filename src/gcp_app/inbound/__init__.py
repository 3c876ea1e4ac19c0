"""Matching the inbound topics (All_SalesOrder, All_Payments, All_Clients) into certificate
changes, exactly once, a batch per transaction. Knows no Kafka: the adapter hands it batches of
`Envelope`s and commits offsets once a batch is stored.

- `messages`: the inbound facts as the application takes them; `builders`: such messages with
  the contract's example values (the demo, the bench, the tests, other teams' test traffic);
  `envelopes`: one consumed message and what became of it;
- `translation`: messages into the sale order's facts, with the business defaults;
- `settling`: what an order's facts call for, carried out through the use cases;
- `matcher`: one message: facts recorded on its order, settled, or dead-lettered;
- `work` and `cache`: the batch's unit of work and the aggregates kept between batches;
- `batches`: a batch and its positions in one transaction (`InboundBatches`);
- `pipeline`: batch N stored while N+1 is decided (`InboundPipeline`).
"""

from gcp_app.inbound.batches import Decided, InboundBatches
from gcp_app.inbound.envelopes import Envelope, Handled, Outcome, Problem, inbox_source
from gcp_app.inbound.pipeline import BatchListener, InboundPipeline

__all__ = [
    "BatchListener",
    "Decided",
    "Envelope",
    "Handled",
    "InboundBatches",
    "InboundPipeline",
    "Outcome",
    "Problem",
    "inbox_source",
]
