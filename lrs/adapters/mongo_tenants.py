"""TenantStore on MongoDB: one document per tenant in `tenants`, keyed by its name::

{_id: "<name>", label, disabled: bool, created_at: datetime}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lrs.ports.tenants import Tenant

Doc = dict[str, Any]


class MongoTenantStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._tenants: AsyncCollection[Doc] = db["tenants"]

    async def get(self, name: str) -> Tenant | None:
        doc = await self._tenants.find_one({"_id": name})
        return _tenant(doc) if doc is not None else None

    async def insert(self, tenant: Tenant) -> bool:
        try:
            await self._tenants.insert_one(
                {
                    "_id": tenant.name,
                    "label": tenant.label,
                    "disabled": tenant.disabled,
                    "created_at": tenant.created_at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def list_tenants(self) -> list[Tenant]:
        docs = await self._tenants.find({}).sort("_id", ASCENDING).to_list(None)
        return [_tenant(d) for d in docs]

    async def set_disabled(self, name: str, disabled: bool) -> Tenant | None:
        doc = await self._tenants.find_one_and_update(
            {"_id": name}, {"$set": {"disabled": disabled}}, return_document=ReturnDocument.AFTER
        )
        return _tenant(doc) if doc is not None else None


def _tenant(doc: Mapping[str, Any]) -> Tenant:
    created: datetime = doc["created_at"]
    return Tenant(
        name=doc["_id"],
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
        label=doc.get("label", ""),
        disabled=bool(doc.get("disabled", False)),
    )
