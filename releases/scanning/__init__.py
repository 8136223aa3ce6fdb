"""Dependency scanning: parse environment files, match them against OSV advisories.

The modules here that scan_env needs (envparse, conda, matcher, severity, osv)
import only the standard library, `packaging`, `yaml` and `cvss`: the pre-flight
command must start fast.
"""
