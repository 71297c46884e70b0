"""One recipe for every key the kit derives from what decided something: a fold's fingerprint (which folds to
reuse), a run's training fingerprint (which run folder to resume), a kept plan's key, a measured speed's cache
entry, a fan-out's request and the parsed-CSV cache. Each passes its identity (JSON-able values, in a list or
dict) and the length it keeps; the SHA-256 of its canonical JSON is the key.

Canonical: dict keys sorted; tuples as lists; another iterable as the list of its items, anything else as its
text. Fold fingerprints and fan-out keys hashed this way are what they were before the one helper (the same
JSON), so kept folds and fan-outs still match.
"""

from __future__ import annotations

import hashlib
import json


def digest(identity, length: int | None = None) -> str:
    """The hex SHA-256 of ``identity``'s canonical JSON, its first ``length`` characters (all by default)."""
    return hashlib.sha256(canonical(identity).encode()).hexdigest()[:length]


def canonical(identity) -> str:
    return json.dumps(identity, sort_keys=True, default=_plain)


def _plain(value):
    try:
        return list(value)
    except TypeError:
        return str(value)
