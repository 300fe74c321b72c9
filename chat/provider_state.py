"""Provider-side objects the engines create once and reuse (stored, never re-created per turn).

Engines never write rows: the turn hands them `StoredProviderResources` as `request.resources`.
"""

from chat.db import db_async
from chat.models import ProviderResource


@db_async
def provider_resource_get(*, kind: str, key: str) -> str | None:
    found = ProviderResource.objects.filter(kind=kind, key=key).first()
    return found.resource_id if found else None


@db_async
def provider_resource_store(*, kind: str, key: str, resource_id: str) -> str:
    """Store a new id; if another turn stored one first, theirs wins and is returned."""
    stored, _ = ProviderResource.objects.get_or_create(
        kind=kind, key=key, defaults={"resource_id": resource_id}
    )
    return stored.resource_id


class StoredProviderResources:
    """The engines' view of ProviderResource (chat.engines.base.ProviderResources)."""

    async def get(self, *, kind: str, key: str) -> str | None:
        return await provider_resource_get(kind=kind, key=key)

    async def store(self, *, kind: str, key: str, resource_id: str) -> str:
        return await provider_resource_store(kind=kind, key=key, resource_id=resource_id)
