"""People: workspaces, users and their memberships, personal access tokens, and sharing workflows with users.

- `service`: workspaces (the operator creates them with their first owner) and who the caller is.
- `users`: the users of a workspace and their roles (only owners touch owners; the last owner stays).
- `tokens`: personal access tokens, issued (shown once), listed, revoked.
- `sharing`: the members of a workspace invited to a workflow, with a role.
- `router`, `users_router`, `sharing_router`: the routes; `schemas`: what they take and answer.
- `repository`: every query of the package (and those authentication and the access loaders make).

Each service function that changes something returns what it changed (before and after, or what it made or
removed), for the audit log. See docs/people.md.
"""
