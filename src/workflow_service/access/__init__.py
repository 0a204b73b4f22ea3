"""Who is calling and what they may do: one principal type, one policy function, one way for routes to ask.

- `principal`: `Principal`, the caller a request resolved to (the admin, an API key; users later).
- `credentials`: the bearer token -> `Principal` (the admin token, API keys: their format, hash and check).
- `policy`: `Action`, the resource descriptors and `allowed(principal, action, resource)`, pure code that
  decides every access rule of the service.
- `routes`: `require(action, on=loader)`, the FastAPI dependency every /v1 route declares.
- `oidc`: bearer JWTs of the operator's identity provider -> the `Identity` they prove (verification only).

See docs/architecture.md, "Access rules", for where a new rule goes.
"""
