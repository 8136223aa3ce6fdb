"""Resolve a model's pip requirements into one hashed lock, once per release, and scan and ship exactly that.

- `inputs`: what is handed to the resolver, read from the parsed environment files (never the files
  themselves, so no include, option or path in them reaches uv), and what is refused before resolving;
- `resolver`: `uv pip compile` against PACKAGE_INDEX_URL only, wheels only, bounded in time and size;
- `lockfile`: the lock read back (pins, hashes, and who pulled each package in);
- `service`: the fetch step's and the dry run's entry point, and the stored DependencyLock;
- `scan`: the lock merged into the parsed dependencies, so the scanner sees every pin;
- `verdict`: what the environment's `resolve_dependencies` knob makes of the lock's outcome.
"""
