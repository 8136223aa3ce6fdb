"""Auditor screens: what crosses the apps (a release with its approvals and evidence), read-only.

`story` (a release's page), `deployments` (what ran where, when), `export` (compliance CSV/JSON),
`admin` (those pages in Django admin), `api` (GET /api/deployments/).
"""
