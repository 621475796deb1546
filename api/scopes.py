"""The scopes an app key may hold (see API.md, "Auth and tenancy")."""

BACKEND_ADMIN = "backend:admin"  # tenants, and every other scope
TENANT_ADMIN = "tenant:admin"  # assistants, prompts, products, memory
TENANT_CHAT = "tenant:chat"  # threads, runs, social media, messages, marketing

ALL_SCOPES = (BACKEND_ADMIN, TENANT_ADMIN, TENANT_CHAT)
PLATFORM_TENANT = "*"
