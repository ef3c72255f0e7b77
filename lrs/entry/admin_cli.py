"""`lrs tenants ...`, `lrs credentials ...` and `lrs webhooks ...`: administration straight on
MongoDB (LRS_MONGODB_URI), through the same service as the `/admin` API. A created credential's
secret is printed once; nothing can show it again. `lrs agents forget` erases a learner
(docs/erasure.md; it also needs LRS_KAFKA_BOOTSTRAP) and `lrs agents erasures` lists the
audit records.

`lrs goals ...`: goals of a tenant through the same service as the `/goals` API (MongoDB, and
the broker, LRS_KAFKA_BOOTSTRAP, for the changes it publishes); the operator acts with every
scope of the tenant."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lrs.adapters.kafka_bus import KafkaEventBus
from lrs.adapters.mongo_goals import MongoGoalProgressReader, MongoGoalStore
from lrs.adapters.mongo_store import MongoCredentialStore, connect
from lrs.adapters.mongo_tenants import MongoTenantStore
from lrs.adapters.mongo_webhooks import MongoWebhookStore
from lrs.api.app import goal_deps
from lrs.erasure import record_view
from lrs.ports.credentials import Credential, Principal
from lrs.ports.events import OutgoingMessage
from lrs.ports.tenants import Tenant
from lrs.services import admin, erasure, goals, webhooks
from lrs.services.admin import AdminDeps, CredentialSpec
from lrs.services.goals import GoalDeps
from lrs.services.webhooks import SubscriptionSpec, WebhookDeps
from lrs.settings import LrsSettings
from lrs.webhooks.model import Subscription
from lrs.wiring.doorbell import ringer
from lrs.wiring.erasure import connected_erasure, erasure_store
from lrs.xapi.documents import parse_agent
from lrs.xapi.errors import XapiError

COMMANDS = ("tenants", "credentials", "agents", "goals", "webhooks")
# Who an erasure from the command line is recorded as requested by (the API records the key).
CLI_REQUESTER = "cli"
WITHDRAWALS = {("credentials", "revoke"), ("tenants", "disable"), ("tenants", "enable")}
Action = Callable[[AdminDeps, argparse.Namespace], Awaitable[None]]


def add_parsers(sub: Any) -> None:
    tenants = sub.add_parser("tenants", help="tenant administration (on LRS_MONGODB_URI)")
    t_sub = tenants.add_subparsers(dest="action", required=True)
    create = t_sub.add_parser("create", help="create a tenant")
    create.add_argument("name")
    create.add_argument("--label", default="")
    t_sub.add_parser("list", help="list tenants")
    for action in ("disable", "enable"):
        t_sub.add_parser(action, help=f"{action} a tenant's credentials").add_argument("name")
    creds = sub.add_parser("credentials", help="credential administration (on LRS_MONGODB_URI)")
    c_sub = creds.add_subparsers(dest="action", required=True)
    c_create = c_sub.add_parser("create", help="create a credential; prints its secret once")
    c_create.add_argument("--tenant", required=True)
    c_create.add_argument("--scope", action="append", required=True, dest="scopes")
    c_create.add_argument("--label", default="")
    c_create.add_argument("--expires-at", type=datetime.fromisoformat, default=None)
    c_create.add_argument("--authority", type=json.loads, default=None, help="an Agent as JSON")
    c_sub.add_parser("list", help="list credentials").add_argument("--tenant", default=None)
    c_sub.add_parser("revoke", help="revoke a credential").add_argument("key")
    add_webhook_parsers(sub)
    add_agent_parsers(sub)
    add_goal_parsers(sub)


def add_webhook_parsers(sub: Any) -> None:
    hooks = sub.add_parser("webhooks", help="webhook and forwarding subscriptions")
    w_sub = hooks.add_subparsers(dest="action", required=True)
    w_create = w_sub.add_parser("create", help="subscribe a URL; prints its secret once")
    w_create.add_argument("url")
    w_create.add_argument("--tenant", required=True)
    w_create.add_argument("--kind", choices=("webhook", "forward"), default="webhook")
    w_create.add_argument("--filter", type=json.loads, default=None, help="a filter as JSON")
    w_create.add_argument("--secret", default=None, help="webhook: HMAC key; forward: password")
    w_create.add_argument("--username", default=None, help="forward: Basic user name")
    w_create.add_argument("--xapi-version", default="1.0.3", help="forward: 1.0.3 or 2.0.0")
    w_create.add_argument("--label", default="")
    w_sub.add_parser("list", help="list subscriptions").add_argument("--tenant", default=None)
    for action in ("pause", "resume", "delete", "status"):
        w_sub.add_parser(action, help=f"{action} a subscription").add_argument("id")
    w_log = w_sub.add_parser("deliveries", help="a subscription's delivery log, newest first")
    w_log.add_argument("id")
    w_log.add_argument("--state", choices=("open", "delivered", "dead"), default=None)
    w_log.add_argument("--limit", type=int, default=20)
    w_replay = w_sub.add_parser("replay", help="send dead-lettered deliveries again")
    w_replay.add_argument("id")
    w_replay.add_argument("--delivery", action="append", dest="deliveries", default=None)


def add_agent_parsers(sub: Any) -> None:
    agents = sub.add_parser("agents", help="erasure of learners (docs/erasure.md)")
    a_sub = agents.add_subparsers(dest="action", required=True)
    forget = a_sub.add_parser("forget", help="erase a learner; run again to resume")
    forget.add_argument("agent", help='the learner, an Agent as JSON: {"mbox": "mailto:..."}')
    forget.add_argument("--tenant", default="default")
    forget.add_argument("--by", default=CLI_REQUESTER, help="who asked (kept for audit)")
    listing = a_sub.add_parser("erasures", help="list the erasures' audit records")
    listing.add_argument("--tenant", default=None)


def add_goal_parsers(sub: Any) -> None:
    goals = sub.add_parser("goals", help="goals of a tenant (docs/goals.md)")
    g_sub = goals.add_subparsers(dest="action", required=True)
    for action, text in (("create", "create a goal"), ("put", "create or replace a goal")):
        parser = g_sub.add_parser(action, help=f"{text} from a JSON file ('-': stdin)")
        parser.add_argument("--tenant", required=True)
        if action == "put":
            parser.add_argument("goal_id")
        parser.add_argument("file")
    archive = g_sub.add_parser("archive", help="archive a goal")
    archive.add_argument("--tenant", required=True)
    archive.add_argument("goal_id")
    for action, text in (("list", "list goals"), ("progress", "show goal progress")):
        parser = g_sub.add_parser(action, help=text)
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--owner", default=None, help="learner:<id>, team:<id>, organisation")
        if action == "list":
            parser.add_argument("--archived", action="store_true")


def run(args: argparse.Namespace, settings: LrsSettings) -> int:
    if args.command == "agents":
        return run_agents(args, settings)
    if not settings.mongodb_uri:
        print("LRS_MONGODB_URI is not set", file=sys.stderr)
        return 2
    try:
        if args.command == "goals":
            args.body = _goal_body(args) if args.action in ("create", "put") else None
            asyncio.run(_run_goals(args, settings))
            return 0
        if args.command == "webhooks":
            asyncio.run(_run_webhooks(WEBHOOK_ACTIONS[args.action], args, settings))
            return 0
        asyncio.run(_run(ACTIONS[(args.command, args.action)], args, settings))
    except XapiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    if (args.command, args.action) in WITHDRAWALS:
        # API processes re-read credential and tenant records this often (docs/decisions/0005)
        seconds = settings.auth_revalidate_seconds
        print(f"(every API process sees this within {seconds:g} s)", file=sys.stderr)
    return 0


async def _run(action: Action, args: argparse.Namespace, settings: LrsSettings) -> None:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        db = client[settings.mongodb_database]
        deps = AdminDeps(
            tenants=MongoTenantStore(db),
            credentials=MongoCredentialStore(db),
            clock=lambda: datetime.now(UTC),
            base_url=settings.base_url(),
        )
        await action(deps, args)
    finally:
        await client.close()


def _show_tenant(tenant: Tenant) -> None:
    state = "disabled" if tenant.disabled else "active"
    print(f"{tenant.name}\t{state}\t{tenant.created_at.isoformat()}\t{tenant.label}")


def _show_credential(credential: Credential) -> None:
    state = "revoked" if credential.revoked else "active"
    expires = credential.expires_at.isoformat() if credential.expires_at else "never"
    scopes = ",".join(sorted(credential.scopes))
    print(
        f"{credential.key}\t{credential.tenant}\t{state}\t{scopes}\t{expires}\t{credential.label}"
    )


async def _tenant_create(deps: AdminDeps, args: argparse.Namespace) -> None:
    _show_tenant(await admin.create_tenant(deps, args.name, args.label))


async def _tenant_list(deps: AdminDeps, args: argparse.Namespace) -> None:
    for tenant in await admin.list_tenants(deps):
        _show_tenant(tenant)


async def _tenant_disable(deps: AdminDeps, args: argparse.Namespace) -> None:
    _show_tenant(await admin.set_tenant_disabled(deps, args.name, True))


async def _tenant_enable(deps: AdminDeps, args: argparse.Namespace) -> None:
    _show_tenant(await admin.set_tenant_disabled(deps, args.name, False))


async def _credential_create(deps: AdminDeps, args: argparse.Namespace) -> None:
    expires = args.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    spec = CredentialSpec(
        tenant=args.tenant,
        scopes=frozenset(args.scopes),
        label=args.label,
        expires_at=expires,
        authority=args.authority,
    )
    credential, secret = await admin.create_credential(deps, spec)
    print(f"key: {credential.key}")
    print(f"secret: {secret}")
    print("(the secret is shown this once; only its hash is stored)")


async def _credential_list(deps: AdminDeps, args: argparse.Namespace) -> None:
    for credential in await admin.list_credentials(deps, args.tenant):
        _show_credential(credential)


async def _credential_revoke(deps: AdminDeps, args: argparse.Namespace) -> None:
    _show_credential(await admin.revoke_credential(deps, args.key))


ACTIONS: dict[tuple[str, str], Action] = {
    ("tenants", "create"): _tenant_create,
    ("tenants", "list"): _tenant_list,
    ("tenants", "disable"): _tenant_disable,
    ("tenants", "enable"): _tenant_enable,
    ("credentials", "create"): _credential_create,
    ("credentials", "list"): _credential_list,
    ("credentials", "revoke"): _credential_revoke,
}


# --- webhooks (docs/webhooks.md) --------------------------------------------------------------

WebhookAction = Callable[[WebhookDeps, argparse.Namespace], Awaitable[None]]


async def _run_webhooks(
    action: WebhookAction, args: argparse.Namespace, settings: LrsSettings
) -> None:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        store = MongoWebhookStore(client[settings.mongodb_database])
        await store.create_indexes()
        deps = WebhookDeps(
            store=store,
            clock=lambda: datetime.now(UTC),
            allow_private=settings.webhooks_allow_private_targets,
        )
        await action(deps, args)
    finally:
        await client.close()


def _show_subscription(sub: Subscription) -> None:
    state = "paused" if sub.paused else "active"
    flt = json.dumps(sub.filter.as_dict(), separators=(",", ":"))
    print(f"{sub.id}\t{sub.tenant}\t{sub.kind}\t{state}\t{sub.url}\t{flt}\t{sub.label}")


async def _webhook_create(deps: WebhookDeps, args: argparse.Namespace) -> None:
    spec = SubscriptionSpec(
        tenant=args.tenant,
        url=args.url,
        kind=args.kind,
        filter=args.filter,
        secret=args.secret,
        label=args.label,
        username=args.username,
        xapi_version=args.xapi_version,
    )
    sub = await webhooks.create_subscription(deps, spec)
    _show_subscription(sub)
    if sub.kind == "webhook":
        print(f"secret: {sub.secret}")
        print("(the secret is shown this once)")


async def _webhook_list(deps: WebhookDeps, args: argparse.Namespace) -> None:
    for sub in await webhooks.list_subscriptions(deps, args.tenant):
        _show_subscription(sub)


async def _webhook_pause(deps: WebhookDeps, args: argparse.Namespace) -> None:
    _show_subscription(await webhooks.set_paused(deps, args.id, True))


async def _webhook_resume(deps: WebhookDeps, args: argparse.Namespace) -> None:
    _show_subscription(await webhooks.set_paused(deps, args.id, False))


async def _webhook_delete(deps: WebhookDeps, args: argparse.Namespace) -> None:
    await webhooks.delete_subscription(deps, args.id)
    print(f"deleted {args.id}")


async def _webhook_status(deps: WebhookDeps, args: argparse.Namespace) -> None:
    status = await webhooks.status(deps, args.id)
    for name, value in vars(status).items():
        shown = value.isoformat() if isinstance(value, datetime) else value
        print(f"{name}: {shown}")


async def _webhook_deliveries(deps: WebhookDeps, args: argparse.Namespace) -> None:
    for d in await webhooks.deliveries(deps, args.id, args.state, args.limit):
        last = d.last_error or (d.last_status if d.last_status is not None else "")
        when = d.created_at.isoformat()
        print(f"{d.id}\t{d.state}\t{len(d.items)} events\t{d.attempts} attempts\t{when}\t{last}")


async def _webhook_replay(deps: WebhookDeps, args: argparse.Namespace) -> None:
    print(f"replayed: {await webhooks.replay(deps, args.id, args.deliveries)}")


WEBHOOK_ACTIONS: dict[str, WebhookAction] = {
    "create": _webhook_create,
    "list": _webhook_list,
    "pause": _webhook_pause,
    "resume": _webhook_resume,
    "delete": _webhook_delete,
    "status": _webhook_status,
    "deliveries": _webhook_deliveries,
    "replay": _webhook_replay,
}


async def _run_goals(args: argparse.Namespace, settings: LrsSettings) -> None:
    """One `lrs goals` action; the changes need the broker (LRS_KAFKA_BOOTSTRAP)."""
    assert settings.mongodb_uri
    writes = args.action in ("create", "put", "archive")
    if writes and not settings.kafka_bootstrap:
        raise XapiError("changing goals publishes them: set LRS_KAFKA_BOOTSTRAP")
    client = connect(settings.mongodb_uri)
    bus = _goal_bus(settings) if writes else None
    try:
        db = client[settings.mongodb_database]
        store = MongoGoalStore(db)
        await store.create_indexes()
        deps = goal_deps(
            settings, store, MongoGoalProgressReader(db), bus or _NoBus(), lambda: datetime.now(UTC)
        )
        who = Principal(args.tenant, "cli", frozenset({"all", "define"}), {})
        if bus is not None:
            await bus.start()
        print(json.dumps(await _goal_action(deps, who, args), indent=2))
    finally:
        if bus is not None:
            await bus.stop()
        await client.close()


def _goal_bus(settings: LrsSettings) -> KafkaEventBus:
    return KafkaEventBus(
        settings.kafka_bootstrap or "",
        linger_ms=settings.producer_linger_ms,
        timeout_seconds=settings.produce_timeout_seconds,
        on_published=ringer(settings),
    )


class _NoBus:
    """The bus of a read-only `lrs goals` action (it publishes nothing)."""

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        raise RuntimeError("a read-only goals action tried to publish")

    async def ping(self) -> None:
        return None


def _goal_body(args: argparse.Namespace) -> object:
    """The JSON body of `create` / `put` (read before the event loop starts)."""
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise XapiError(f"the goal file is not JSON: {exc}") from exc


async def _goal_action(deps: GoalDeps, who: Principal, args: argparse.Namespace) -> Any:
    if args.action in ("create", "put"):
        body = args.body
        if args.action == "create":
            goal, _ = await goals.create_goal(deps, who, body)
        else:
            goal, _ = await goals.put_goal(deps, who, args.goal_id, body)
        return goal.as_json()
    if args.action == "archive":
        return (await goals.archive_goal(deps, who, args.goal_id)).as_json()
    if args.action == "list":
        found = await goals.list_goals(deps, who, args.owner, archived=args.archived)
        return [g.as_json() for g in found]
    return await goals.goal_progress(deps, who, args.owner)


def run_agents(args: argparse.Namespace, settings: LrsSettings) -> int:
    """`lrs agents forget|erasures`: one JSON record per line on stdout."""
    try:
        if args.action == "forget":
            asyncio.run(_forget(args, settings))
        else:
            asyncio.run(_erasures(args, settings))
    except XapiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


async def _forget(args: argparse.Namespace, settings: LrsSettings) -> None:
    admin.check_tenant_name(args.tenant)
    agent, _ = parse_agent(args.agent, settings.statement_limits())
    async with connected_erasure(settings) as deps:
        record = await erasure.erase_agent(deps, args.tenant, agent, args.by)
    print(json.dumps(record_view(record)))


async def _erasures(args: argparse.Namespace, settings: LrsSettings) -> None:
    async with erasure_store(settings) as store:
        for record in await store.list_erasures(args.tenant):
            print(json.dumps(record_view(record)))
