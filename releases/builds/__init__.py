"""Image builds: each backend starts a build; its completion comes back through one path (completion.py).

- webhook: a signed JSON request to a Tekton or Argo webhook (webhook.py)
- gitlab: GitLab's pipeline trigger API (gitlab.py)
- local: buildah in the worker, pushed to an OCI registry (local.py)
"""
from releases.builds import gitlab, local, webhook

BACKENDS = {"local": local.start, "webhook": webhook.start, "gitlab": gitlab.start}
