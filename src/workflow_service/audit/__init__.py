"""The audit log: one entry for every action that changes something, by any principal, through any route,
and for the service's own configuration changes (push disabled after a 410, a key expiring) and sign-in
failures.

The rules:
- An entry is written in the same transaction as the change it records (`recorder.record(conn, ...)` with the
  change's connection), so there is never a change without its entry nor an entry for a change rolled back.
- Append-only: no route, and no code of the service, changes or deletes an entry. Deleting a workflow or a job
  leaves its entries (they hold no foreign keys).
- Secrets never enter the log: what changed (`changes`) is built with `redact.changes`, which replaces the
  values of secret fields, at any depth, with `"[redacted]"` (still listing them when they changed).
- Entries are chained, one chain per workspace (and one for the deployment): each entry's hash covers its
  content and the previous entry's hash (`chain.entry_hash`), and the chain's head (`audit_head`) holds the
  last seq and hash. Altering, removing or inserting an entry, or moving the head, breaks the chain, and
  `service.verify` names the first entry where it breaks.

Modules: `recorder` (record an action), `redact` (what changed), `service` (list, verify), `chain` (the hash),
`repository` (all the package's SQL), `schemas` (what the routes answer).
"""
