"""The development app key of the embedded default: created on first start, kept in the data dir."""

from __future__ import annotations

from api.scopes import ALL_SCOPES, PLATFORM_TENANT
from runtime.services import Services

DEV_KEY_FILE = "dev_app_key"


async def ensure_dev_key(services: Services) -> str:
    """Reuse the stored key while it still verifies, else create a platform key with every scope.

    Only for the embedded default: a production database gets keys from `mas keys create`.
    """
    path = services.settings.data_dir / DEV_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if await services.app_keys.verify(key) is not None:
            return key
    issued = await services.app_keys.create("development", PLATFORM_TENANT, list(ALL_SCOPES))
    path.write_text(issued.key)
    path.chmod(0o600)
    return issued.key
