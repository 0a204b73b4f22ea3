"""People: workspaces, users and their memberships, personal access tokens, and sharing workflows with users.

- `repository`: every query of the package (and those authentication and the access loaders make).

See docs/people.md.
"""
