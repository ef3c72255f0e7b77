"""Configuration: one typed object, read from `LRS_*` environment variables, built once and
passed down.

Nothing here is instantiated at import time; `get_settings()` builds (and caches) it on demand.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lrs.fetch_pacing import ACK_PATH_FETCH_WAIT_MS
from lrs.progress.bounds import DEFAULT_MAX_VALUE_BYTES
from lrs.xapi.definitions import DEFAULT_MAX_AGENT_NAMES, DEFAULT_MAX_DEFINITION_BYTES
from lrs.xapi.limits import DEFAULT_LIMITS, StatementLimits

AckMode = Literal["stored", "kafka"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class LrsSettings(BaseSettings):
    """Every setting the LRS reads. Field `foo_bar` is the environment variable `LRS_FOO_BAR`."""

    model_config = SettingsConfigDict(env_prefix="LRS_", extra="ignore")

    # External parts. When unset, `lrs serve` starts the embedded broker / store for them.
    kafka_bootstrap: str | None = Field(default=None, description="Kafka bootstrap servers")
    mongodb_uri: str | None = Field(default=None, description="MongoDB connection string")
    mongodb_database: str = "lrs"
    # The embedded store's memory (docs/decisions/0021): its WiredTiger cache, in MB. The store
    # process holds about this much of the data in memory, plus its own interpreter, however
    # much is stored (SecantusDB's own default is 1 GB). Keep it above ~30 times the largest
    # document written (LRS_MAX_DOCUMENT_BYTES, 15 MB): SecantusDB stalls on one write that
    # does not fit a small share of its cache.
    embedded_store_cache_mb: int = Field(default=512, ge=64)
    # The embedded broker keeps every record in memory and cannot trim them: once it has grown
    # this many MB since its start, `lrs serve` replaces it with an empty one, once every
    # consumer has read everything (docs/decisions/0032). 0: never.
    embedded_broker_renew_mb: int = Field(default=1024, ge=0)
    # The longest the API processes are held for a renewal while the consumers finish reading;
    # when they have not finished by then the broker is kept and tried again later.
    embedded_broker_renew_drain_seconds: float = Field(default=10.0, gt=0)
    data_dir: Path = Path("./.lrs-data")

    # HTTP API.
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str | None = Field(
        default=None, description="Base URL clients use (for `more` links); default from host/port"
    )
    max_body_bytes: int = 20 * 1024 * 1024
    # The API's GET /metrics on this port of http_host instead (not published with the API).
    metrics_port: int | None = None  # unset: on http_port, as GET /metrics
    # Limits of what one request's statements may hold (lrs/xapi/limits.py): beyond them the
    # broker, the store or the consumers could not carry an accepted statement. All are far
    # above what real clients send.
    # Statements in one POST; more is 413 (Communication 3.2).
    max_statements_per_request: int = DEFAULT_LIMITS.max_statements
    # Compact JSON size of one statement as sent; more is 413 (Communication 3.2). Half of the
    # broker's default record limit (message.max.bytes, about 1 MB), leaving room for what the
    # LRS adds (id, stored, authority, envelope), and far below the store's 16 MB per document.
    max_statement_bytes: int = DEFAULT_LIMITS.max_statement_bytes  # 512 KiB
    # Deepest nesting of JSON objects/arrays accepted in a statement or a JSON document (the
    # statement itself counts as depth 1). Far above what xAPI needs; below what the JSON
    # encoder (255), the broker's consumers and the store (100) can hold. More is 400.
    max_json_depth: int = DEFAULT_LIMITS.max_json_depth  # 64
    # Longest identifier or name, in characters: IRIs (ids, types, extension keys), mbox,
    # openid, account name and homePage, Agent and Group names, every object key of a statement.
    # Learner and team ids built from them travel in every progress record. More is 400.
    max_identifier_chars: int = DEFAULT_LIMITS.max_identifier_chars  # 4096
    # What the Activities and Agents projections keep (docs/decisions/0004). An Activity's
    # stored definition grows by merging statements' definitions; when a merge would make its
    # document larger than this (BSON bytes), the batch's definition replaces it. At least
    # max_statement_bytes, checked at start (one statement's definition always fits), far below
    # the store's 16 MB.
    max_definition_bytes: int = DEFAULT_MAX_DEFINITION_BYTES  # 1 MiB
    # Names kept per Agent (the Person Object's `name` list); the oldest go first.
    max_agent_names: int = DEFAULT_MAX_AGENT_NAMES  # 100
    statement_page_limit: int = 100
    # X-Experience-API-Version of responses to requests that name no (known) version.
    default_xapi_version: Literal["1.0.3", "2.0.0"] = "2.0.0"
    # Largest State / Activity Profile / Agent Profile document, as PUT or as a POST merge grows
    # it (413 beyond). The store holds a document in one record of at most 16 MB.
    max_document_bytes: int = 15 * 1024 * 1024
    # Client compatibility (Communication 3.1): when true, a PUT without If-Match or
    # If-None-Match may create a NEW Activity / Agent Profile document (clients such as
    # @xapi/xapi and TinCanPython never send them); over an existing document it still gets
    # 409. Off by default: ADL's 1.0.3 suite expects 400 for such a PUT.
    allow_unconditional_profile_create: bool = False

    # First credential, created on an empty store (for scripts; otherwise random).
    bootstrap_key: str | None = None
    bootstrap_secret: str | None = None
    default_tenant: str = "default"
    # Authentication (lrs/services/auth.py, docs/decisions/0005). Credential and tenant records
    # are re-read at most this often per key / tenant per API process: a credential revoked or
    # a tenant disabled by any means is refused everywhere within it. At most 4 s.
    auth_revalidate_seconds: float = Field(default=1.0, gt=0, le=4.0)
    # Wrong secrets allowed per (client address, key) per window; beyond, that pair's wrong or
    # unverified secrets get 429 with Retry-After until the window ends. A secret already
    # verified, and every other address, keep working.
    auth_failure_budget: int = Field(default=10, ge=1)
    auth_failure_window_seconds: float = Field(default=10.0, gt=0)

    # Optional OAuth 2.0 / OIDC bearer tokens (RS256 JWTs), checked against a JWKS read from a
    # file or fetched from a URL (docs/decisions/0005). Without either, only Basic is accepted.
    jwks_file: Path | None = Field(default=None, description="JWKS file for bearer JWTs")
    jwks_url: str | None = Field(default=None, description="JWKS URL for bearer JWTs")
    jwt_issuer: str | None = Field(default=None, description="required `iss` of bearer JWTs")
    jwt_audience: str | None = Field(default=None, description="required `aud` of bearer JWTs")
    jwt_tenant_claim: str = Field(
        default="lrs_tenant", description="the JWT claim naming the caller's tenant"
    )

    # Acknowledgement: "stored" answers a POST/PUT only once the persister has written the
    # statement to MongoDB (read-your-writes; required with the memory-only embedded broker);
    # "kafka" answers once the broker has it with acks=all. See docs/decisions/0002.
    ack_mode: AckMode = "stored"
    ack_timeout_seconds: float = 15.0

    # Kafka.
    topic_prefix: str = ""
    # Each topic's partitions when it is created. Unset, `lrs serve` on its embedded broker uses
    # 2 instead (lrs/entry/supervisor.py, docs/decisions/0021).
    statement_partitions: int = 8
    replication_factor: int = 1
    consumer_group_prefix: str = "lrs"
    consumer_session_timeout_ms: int = 10_000
    # How a consumer process gets its partitions: "group" (the broker's consumer-group
    # protocol: several instances share the work; after a crash the partitions move after the
    # session timeout and a rebalance), or "all" (this process reads every partition of its
    # topic and commits its offsets under the group id, with no rebalance to wait for; only
    # when exactly one instance of each consumer runs). Unset: "all" under `lrs serve`, which
    # runs one of each and never two at once, "group" for `lrs consume` (docs/decisions/0010).
    consumer_assignment: Literal["group", "all"] | None = None
    # Longest wait between two retries of a batch after a transient failure (store or broker
    # unreachable); the wait doubles from 0.1 s up to this. Consumers retry for as long as it
    # takes (docs/decisions/0008).
    consumer_retry_max_seconds: float = 5.0
    # Idle consumers (docs/decisions/0021): once a consumer, or an API process's feed, has
    # read nothing for LRS_CONSUMER_IDLE_AFTER_SECONDS, the broker may hold its empty fetches
    # LRS_CONSUMER_IDLE_FETCH_WAIT_MS (instead of the busy waits below) and the persister
    # records its watermarks every 5 s (instead of every 0.25 s, so
    # X-Experience-API-Consistent-Through lags up to 5 s more while idle). The first record
    # after an idle stretch may wait up to half the idle wait longer (250 ms) at each consumer
    # it passes through (a POST's acknowledgement: the persister, then the API's feed). 500 ms
    # keeps a goal's status change on its stream within 1 s after a silence (issue 14); 2000
    # ms saves about 3% of a core more but a first change after a silence may take 2 s
    # (docs/benchmarks.md, 0021).
    consumer_idle_after_seconds: float = Field(default=30.0, gt=0)
    # The doorbell (docs/decisions/0021, item 8; lrs.adapters.doorbell): a directory where
    # every process of one machine's LRS listens for rings; whoever produces rings. With it,
    # an idle consumer or API feed fetches nothing until rung (or for
    # LRS_CONSUMER_DOZE_SECONDS), and the idle fetch waits above and below no longer apply.
    # `lrs serve` on its embedded broker sets it to <LRS_DATA_DIR>/bells (unless
    # LRS_DOORBELL=false); unset, nothing rings and nothing dozes.
    doorbell_dir: Path | None = None
    doorbell: bool = True
    # With the doorbell, the longest an idle consumer or feed fetches nothing without a ring;
    # a ring missed (a producer outside `lrs serve`) costs up to this much latency. While it
    # dozes, a consumer's lag and watermarks (X-Experience-API-Consistent-Through) and the
    # goal and organisation clocks (LRS_GOALS_CLOCK_SECONDS) wait too.
    consumer_doze_seconds: float = Field(default=15.0, gt=0, le=300)
    consumer_idle_fetch_wait_ms: int = Field(default=500, ge=20, le=10_000)
    # The consumers off that path (webhooks, organisation progress, registry changes; the
    # `background` ones in lrs/wiring/consumers.py) wait this long instead while idle: their
    # first record after a silence may wait up to half of it longer (lrs.fetch_pacing).
    consumer_background_idle_fetch_wait_ms: int = Field(default=5000, ge=20, le=30_000)
    # While records flow, how long the broker may hold the empty fetch of the persister and of
    # each API process's feed of stored statements, when they have read everything: a POST's
    # acknowledgement waits for both (docs/decisions/0021, item 7). A record may wait up to half
    # of it more at each; each caught-up reader costs itself and the broker CPU per fetch. 20 ms
    # until 2026-12-01: 50 ms answered single statements sooner on a 2-core machine, since the
    # broker then spent a quarter of a core less on empty fetches (docs/benchmarks.md).
    consumer_ack_fetch_wait_ms: int = Field(default=ACK_PATH_FETCH_WAIT_MS, ge=1, le=1000)
    # The same for the consumers a watched stream waits for (progress, team progress, goals).
    # Shorter: each record reaches the next consumer sooner (up to half of it, per consumer),
    # and each caught-up consumer costs itself and the broker more CPU.
    consumer_fetch_wait_ms: int = Field(default=100, ge=1, le=1000)
    # The same for the `background` consumers (webhooks, organisation progress, registry
    # changes): nothing they produce is waited for within a fraction of a second, and their
    # empty fetches every 100 ms cost the broker and themselves about 5% of the machine under
    # load (docs/decisions/0021, item 7). A record waits up to half of it more at each.
    consumer_background_fetch_wait_ms: int = Field(default=500, ge=1, le=5000)
    producer_linger_ms: int = 2
    # The longest a produce may take, from the API assigning `stored` to the broker's ack; it
    # is also how far Consistent-Through is held back (docs/decisions/0003).
    produce_timeout_seconds: float = 2.0
    # How long an API process starting waits for its store to answer before it gives up.
    startup_wait_seconds: float = Field(default=60.0, ge=0)
    # The longest wait for one answer of the store on an open connection (the API and the
    # consumers): a store that stops answering fails the request with 503, or the consumer's
    # batch as a transient failure (retried), instead of holding it for ever.
    store_timeout_seconds: float = Field(default=30.0, gt=0)
    # How often `lrs serve` with its embedded broker records the moment before which every
    # stored statement has been read by progress and webhooks; at its next start it forwards
    # again what was stored since (lrs/entry/counted.py, docs/decisions/0010).
    serve_mark_seconds: float = Field(default=10.0, gt=0)
    persist_batch_max: int = 500
    # Agents (and, with one persister reading every partition, Activities) whose stored
    # document the persister remembers (the digest of the last merge applied), so that it does
    # not read them again for each batch naming them; about 200 bytes each, the least recently
    # used forgotten first; 0 reads every one (docs/decisions/0030).
    persist_known_definitions: int = Field(default=100_000, ge=0)
    # Records per batch of the progress consumers (progress, team-progress, team-registry).
    progress_batch_max: int = 500
    # How long the progress and team-progress consumers keep fetching
    # after a batch's first record (up to progress_batch_max): each batch writes a learner or
    # team once, so a longer wait means fewer store writes and later progress events
    # (docs/decisions/0014).
    progress_linger_ms: int = Field(default=150, ge=0, le=5000)
    # With it, their linger is no longer than their recent batches took to handle: the whole
    # progress_linger_ms once the store is busy, a few milliseconds while it keeps up
    # (consumers/linger.py); without it, always progress_linger_ms.
    progress_linger_follows_load: bool = True
    # The same for organisation-progress, which reads the learners that changed (every learner
    # of a tenant it does not hold) for each batch: its figures may lag this much more, for
    # far fewer of those reads under load.
    organisation_linger_ms: int = Field(default=1000, ge=0, le=10_000)
    # About how much memory organisation-progress gives the learners' figures it holds between
    # batches, in all tenants: some 1-8 KB per learner (docs/decisions/0034); a tenant beyond
    # is read whole for every batch. 0 holds none.
    organisation_held_mb: int = Field(default=64, ge=0, le=65_536)
    # The same for the persister: a POST's acknowledgement may wait up to this much longer, for
    # larger batches (fewer store round trips per statement) when statements come one by one.
    persist_linger_ms: int = Field(default=0, ge=0, le=1000)
    # Largest JSON value published on lrs.progress.learner / lrs.progress.team. A larger one
    # lists only the most recently active activities (a team: the most started) that fit, the
    # kept ones still sorted by id, with the `lrs_activities_omitted` header (rule in
    # lrs/progress/bounds.py, docs/decisions/0006). Below the broker's default record limit
    # (about 1 MB), leaving room for the key and headers. The stores and the API keep it all.
    progress_max_value_bytes: int = Field(default=DEFAULT_MAX_VALUE_BYTES, ge=16 * 1024)  # 900 KiB
    # Facts (one per live statement, plus voided ids) of the learner documents the progress
    # consumer keeps decoded between batches, the least recently used dropped first; 0 keeps
    # none. A kept one is not read from the store again; its next write is refused if any
    # other writer changed it meanwhile, and it is then read (lrs/adapters/state_cache.py).
    # About 1.2 KB of memory per fact for the state (measured: decoded states of the seeded
    # workload), and the kept document's summary adds about 70% to it (docs/decisions/0029),
    # so the default holds about 100 MB (docs/decisions/0006, "Known limit").
    progress_state_cache_facts: int = Field(default=50_000, ge=0)
    # Facts a learner's progress state holds at most; beyond, the oldest are sealed away (stored
    # apart, in chunks, and kept counted) down to half of it, so what one more statement costs
    # the progress consumer and the store no longer grows with the learner's history
    # (docs/decisions/0025). Lower: cheaper statements, more frequent chunk writes, and a void
    # of an older statement (one no longer held) rewrites all the learner's chunks. 64, not
    # 400 as before: a learner's document is rewritten whole with each batch that has one of
    # its statements, and at 400 a learner with a long history cost the progress consumer
    # about twice as much per statement (docs/decisions/0031).
    progress_held_facts: int = Field(default=64, ge=2)
    # Learners the organisation overview (GET /progress/overview) reads at most, the most
    # recently changed first; a larger tenant's overview says `learners_truncated`.
    progress_overview_max_learners: int = Field(default=10_000, ge=1)
    # Statements a period view (`?period=`/`?from=&to=` on learner and team progress) recomputes
    # at most, over all its learners; more is a 400 asking for a shorter period (docs/goals.md).
    period_view_max_statements: int = Field(default=200_000, ge=1)
    # How often the goal-progress consumer looks for goals whose status changes with the time
    # alone (a due date passed, the at-risk point reached, a new recurring period), seconds:
    # such a goal's new status is published within about this long (docs/decisions/0019).
    # organisation-progress uses it too, for tenants whose day windows moved (0020).
    goals_clock_seconds: float = Field(default=1.0, gt=0, le=3600)

    # Live progress streams (GET /progress/stream, docs/decisions/0007). The stream-token
    # secret signs the tokens browsers open streams with; every API instance behind one load
    # balancer needs the same one (when unset, each process makes its own at start).
    stream_token_secret: str | None = Field(default=None, description="HMAC key, stream tokens")
    stream_token_ttl_seconds: int = 300
    stream_keepalive_seconds: float = 15.0
    stream_retry_ms: int = 3000
    stream_queue_size: int = 256

    # API processes sharing one listening socket, under `lrs serve` and `lrs api` (default: the
    # cores this process may run on). With two or more, the death of one is not seen by clients
    # (another accepts meanwhile; docs/decisions/0010). A container limited by a CPU quota
    # rather than a cpuset sees every core of its host: set it there.
    api_workers: int = Field(default_factory=lambda: usable_cores(), ge=1)  # looked up per call
    # Deprecated alias of api_workers (its former name, `lrs serve` only): used when
    # LRS_API_WORKERS is not set.
    serve_api_processes: int | None = Field(default=None, ge=1)
    # Seconds an API process lets in-flight requests finish on SIGTERM/Ctrl-C; what is still
    # running then is answered 503 (error envelope, Retry-After). `lrs serve` stops in ~5 s.
    shutdown_grace_seconds: int = 1
    # Set by `lrs serve` for its children: the file with its restart counts, shown on /metrics
    # as lrs_process_restarts_total.
    restarts_file: Path | None = None
    # Set by `lrs serve` and `lrs api`'s worker pool for the processes they start: their own
    # pid. Such a process stops once its parent is no longer that process, outright if it has
    # not stopped by itself within its grace (lrs/entry/orphan.py).
    supervisor_pid: int | None = None

    # Webhooks and forwarding (docs/webhooks.md, docs/decisions/0016). Targets resolving to
    # loopback, link-local or private ranges are refused unless this is set (SSRF guard).
    webhooks_allow_private_targets: bool = False
    # A failed delivery is retried after 10 s, doubling up to 10 min between tries, for 24 h;
    # it is then dead-lettered (per subscription, replayable) and the next one is sent.
    webhooks_retry_initial_seconds: float = Field(default=10.0, gt=0)
    webhooks_retry_max_seconds: float = Field(default=600.0, gt=0)
    webhooks_retry_for_seconds: float = Field(default=24 * 3600.0, ge=0)
    webhooks_batch_max: int = Field(default=100, ge=1, le=1000)  # statements per delivery
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0)  # per HTTP request
    webhooks_poll_seconds: float = Field(default=1.0, gt=0)  # idle worker's look for work
    # One process sends a subscription at a time: its worker holds a lease this long, renewed
    # before every delivery; after a crash another process takes over once it runs out. Must
    # exceed LRS_WEBHOOKS_TIMEOUT_SECONDS (a delivery is one request, a forward's 409 more).
    webhooks_lease_seconds: float = Field(default=60.0, gt=0)
    # Delivered deliveries stay in the delivery log this long (7 days). A delivery's record is
    # also what keeps a consumer batch replayed after a crash from sending its events again,
    # so keep it far longer than a consumer can take to commit a batch.
    webhooks_log_retention_seconds: float = Field(default=7 * 24 * 3600.0, ge=3600)

    # Consumers' own HTTP endpoint (/metrics, /healthz).
    consumer_metrics_host: str = "127.0.0.1"
    consumer_metrics_port: int = 9101

    log_level: str = "INFO"

    @property
    def embedded_kafka(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def embedded_mongodb(self) -> bool:
        return not self.mongodb_uri

    @model_validator(mode="after")
    def _api_workers_from_the_old_name(self) -> LrsSettings:
        """LRS_SERVE_API_PROCESSES still sets the API processes when LRS_API_WORKERS does not."""
        if self.serve_api_processes is not None and "api_workers" not in self.model_fields_set:
            self.api_workers = self.serve_api_processes
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> LrsSettings:
        if self.webhooks_lease_seconds <= self.webhooks_timeout_seconds:
            raise ValueError(
                "LRS_WEBHOOKS_LEASE_SECONDS must exceed LRS_WEBHOOKS_TIMEOUT_SECONDS: a worker"
                " must hold its lease for longer than one delivery's request"
            )
        return self

    @model_validator(mode="after")
    def _idle_waits_are_the_longer(self) -> LrsSettings:
        """An idle consumer waits longer than a busy one, never shorter (docs/decisions/0021):
        idling exists to spend less between records."""
        pairs = [
            (
                "LRS_CONSUMER_ACK_FETCH_WAIT_MS",
                self.consumer_ack_fetch_wait_ms,
                "LRS_CONSUMER_IDLE_FETCH_WAIT_MS",
                self.consumer_idle_fetch_wait_ms,
            ),
            (
                "LRS_CONSUMER_FETCH_WAIT_MS",
                self.consumer_fetch_wait_ms,
                "LRS_CONSUMER_IDLE_FETCH_WAIT_MS",
                self.consumer_idle_fetch_wait_ms,
            ),
            (
                "LRS_CONSUMER_BACKGROUND_FETCH_WAIT_MS",
                self.consumer_background_fetch_wait_ms,
                "LRS_CONSUMER_BACKGROUND_IDLE_FETCH_WAIT_MS",
                self.consumer_background_idle_fetch_wait_ms,
            ),
        ]
        for busy_name, busy, idle_name, idle in pairs:
            if busy > idle:
                raise ValueError(
                    f"{busy_name} ({busy}) must not exceed {idle_name} ({idle}): a consumer"
                    " that has read nothing for a while waits longer, not shorter"
                )
        return self

    @model_validator(mode="after")
    def _definitions_hold_a_statement(self) -> LrsSettings:
        """One statement's definition always fits an Activity (docs/decisions/0004)."""
        if self.max_definition_bytes < self.max_statement_bytes:
            raise ValueError(
                f"LRS_MAX_DEFINITION_BYTES ({self.max_definition_bytes}) must be at least"
                f" LRS_MAX_STATEMENT_BYTES ({self.max_statement_bytes}): an Activity's stored"
                " definition must hold the definition of any one statement"
            )
        return self

    def statement_limits(self) -> StatementLimits:
        """The limits statements keep, and with them every `agent` parameter (its depth and
        identifier lengths), so that an Agent that can be stored can be queried."""
        return StatementLimits(
            max_statements=self.max_statements_per_request,
            max_statement_bytes=self.max_statement_bytes,
            max_json_depth=self.max_json_depth,
            max_identifier_chars=self.max_identifier_chars,
        )

    def topic(self, name: str) -> str:
        """The full name of one of `lrs.topics`' topics (with the configured prefix)."""
        return self.topic_prefix + name

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.http_host}:{self.http_port}"


@lru_cache(maxsize=1)
def get_settings() -> LrsSettings:
    """The process's settings, read from the environment once."""
    return LrsSettings()
