"""Fail when a crate of the workspace declares a dependency its sources never use.

An equivalent of `cargo machete` that needs nothing installed: for every `rust/*/Cargo.toml`,
each name under [dependencies] / [dev-dependencies] must appear as a path (`name::`) or in a
`use`/`extern crate` in that crate's `src/`, `tests/` or `benches/` (a dev-dependency may also
be used only there). Dashes in crate names become underscores in Rust paths.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def rust_sources(crate: Path) -> str:
    parts = [crate / d for d in ("src", "tests", "benches")]
    return "\n".join(f.read_text() for d in parts if d.is_dir() for f in d.rglob("*.rs"))


def unused(manifest: Path) -> list[str]:
    spec = tomllib.loads(manifest.read_text())
    code = rust_sources(manifest.parent)
    names = list(spec.get("dependencies", {})) + list(spec.get("dev-dependencies", {}))
    missing = []
    for name in names:
        ident = name.replace("-", "_")
        if spec.get("lib", {}).get("name") == ident:
            continue
        if not re.search(rf"\b{ident}::|\buse {ident}\b|extern crate {ident}\b", code):
            missing.append(name)
    return missing


def main() -> int:
    bad = {m: unused(m) for m in sorted(ROOT.glob("rust/*/Cargo.toml"))}
    bad = {m: names for m, names in bad.items() if names}
    for manifest, names in bad.items():
        print(f"{manifest.relative_to(ROOT)}: unused dependencies {names}; remove them")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
