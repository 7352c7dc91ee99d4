"""The cooperative's side never loads the participant's store, pipeline or importers, and the
commands load their heavy libraries only when they run."""

from __future__ import annotations

import subprocess
import sys


def _loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_cooperative_package_imports_nothing_of_the_participants_side():
    mods = _loaded(
        "import mobco2.cooperative.aggregate, mobco2.cooperative.server, mobco2.cooperative.verify, "
        "mobco2.cooperative.registry, mobco2.cooperative.inbox\n"
        "from mobco2.cooperative.server import create_app\n"
        "import tempfile, pathlib; d = pathlib.Path(tempfile.mkdtemp()); (d / 'r.csv').write_text("
        "'participant,public_key,territory\\n')\n"
        "create_app(d / 'inbox', d / 'r.csv')"
    )
    forbidden = {m for m in mods if m.split(".")[:2] in (["mobco2", "store"], ["mobco2", "segment"],
                                                           ["mobco2", "ingest"], ["mobco2", "emissions"],
                                                           ["mobco2", "keys"], ["mobco2", "submit"])}
    assert forbidden == set()
    assert "duckdb" not in mods


def test_the_submission_signing_helpers_are_light():
    mods = _loaded("import mobco2.signing, mobco2.export.send, mobco2.submit, mobco2.keys")
    assert not {"httpx", "cryptography", "duckdb", "pandas", "starlette", "numpy"} & {m.split(".")[0] for m in mods}
