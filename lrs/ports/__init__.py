"""The seams between the LRS's logic and its I/O, one module per concern; implementations live
in `lrs.adapters` (MongoDB and Kafka, and in-memory fakes held to the same contracts by
tests/contract).

* `statements`: accepted statements and the statement store's roles (writer, reader,
  acknowledgement waiter);
* `attachments`: attachment bytes (the claim check);
* `events`: publishing to the broker;
* `credentials`: credentials and the calling principal;
* `tenants`: tenants;
* `documents`: State and Profile documents;
* `definitions`: Activity definitions and known Agents;
* `teams`: the team registry;
* `progress`: derived progress, as the API reads it and as the progress consumers keep it;
* `goals`: goals and their derived progress;
* `organisation`: the organisation's progress and what it is computed from;
* `webhooks`: webhook subscriptions and deliveries;
* `dead_letters`: the dead-letter topics, listed and replayed.
"""
