# Approval stages, rules and decisions arrive with the multi-stage approvals
# issue; the app exists now so that releases can already link to it.
