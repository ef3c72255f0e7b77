"""The adapters of an app under test: in memory, but for those a test gives."""

from __future__ import annotations

from typing import Any

from lrs.adapters.memory import (
    InMemoryAttachmentStore,
    InMemoryCredentialStore,
    InMemoryEventBus,
    InMemoryStatementStore,
)
from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from lrs.adapters.memory_documents import InMemoryDocumentStore
from lrs.adapters.memory_goals import InMemoryGoalProgressReader, InMemoryGoalStore
from lrs.adapters.memory_organisation import InMemoryOrganisationProgress
from lrs.adapters.memory_teams import InMemoryProgressReader, InMemoryTeamRegistry
from lrs.adapters.memory_tenants import InMemoryTenantStore
from lrs.api.app import Adapters
from lrs.services.progress_hub import ProgressHub


def app_adapters(**given: Any) -> Adapters:
    """In-memory adapters, replaced by those `given` (by Adapters' field names)."""
    defaults: dict[str, Any] = {
        "store": InMemoryStatementStore(),
        "bus": InMemoryEventBus(),
        "credentials": InMemoryCredentialStore(),
        "documents": InMemoryDocumentStore(),
        "attachments": InMemoryAttachmentStore(),
        "activities": InMemoryActivityStore(),
        "agents": InMemoryAgentStore(),
        "tenants": InMemoryTenantStore(),
        "team_registry": InMemoryTeamRegistry(),
        "progress": InMemoryProgressReader(),
        "hub": ProgressHub(),
        "goals": InMemoryGoalStore(),
        "goal_progress": InMemoryGoalProgressReader(),
        "organisation_progress": InMemoryOrganisationProgress(),
    }
    return Adapters(**{**defaults, **given})
