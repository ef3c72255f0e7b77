"""The composition root: the one place where adapters (MongoDB, Kafka) are built, connected
and handed to the API and to the consumers, which see only ports and services.

- `api`: the API process's adapters (its lifespan connects them) and the app built on them;
- `consumers`: every consumer, its topic and how its handler is built;
- `consumer_process`: a consumer process's start (connect, prepare, run until SIGTERM);
- `erasure`: the erasure's connections, opened for one operator action.

Only the entry points (lrs.entry) import this package (docs/architecture.md, "Packages and
arrows").
"""
