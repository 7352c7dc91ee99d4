"""``mobco2 update``: the one command for a scheduled job.

1. import every new file under ``sources.paths`` (files already in the journal, by sha256, are
   skipped by :func:`mobco2.ingest.import_paths`);
2. segment what changed (:func:`mobco2.segment.segment` recomputes only months whose inputs changed);
3. with a report folder, write ``mobco2-YYYY-MM.html`` and ``mobco2-YYYY-MM.json`` for every month
   whose report changed.

**What "changed" means.** A month's report depends on its data, the twelve months before it (the
trend, the year-before comparison), the settings and the mobco2 version. Its *inputs key* hashes
the segmentation fingerprints (``segment_state``) of the months from 13 before to 1 after it (time
zones move a month's edges by a day), every setting and the version. A month whose key and files
are as recorded in ``.mobco2-update.json`` (in the report folder, with each file's sha256) is
skipped without rendering; otherwise it is rendered and each file written only when its bytes
differ. A second run with no new input therefore renders nothing and touches no file.

**Crash safety.** Every file is written atomically (temporary name, fsync, rename) and the state
file last, so a run killed at any point leaves whole reports; the next run removes the temporary
files a kill left, finds the months not recorded and completes them.

**Exit codes.** 0 done (also when nothing was new) · 2 no ``sources.paths`` configured · 65 a source
file had rejected records or could not be parsed (the rest is imported, segmented and reported) ·
66 a configured source path does not exist · 73 a report cannot be written · 75 the store is locked
by another run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobco2.errors import EXIT_OK, UsageError

STATE_FILE = ".mobco2-update.json"
REPORT_FORMATS = ("html", "json")


@dataclass
class UpdateSummary:
    """What one ``update`` run did."""

    files_seen: int = 0
    files_known: int = 0
    files_imported: int = 0
    points_added: int = 0
    rejected: int = 0
    failed: int = 0
    months_segmented: int = 0
    reports_written: list[str] = field(default_factory=list)
    reports_unchanged: int = 0
    temporaries_removed: int = 0
    exit_code: int = EXIT_OK

    @property
    def changed(self) -> bool:
        return bool(self.files_imported or self.points_added or self.months_segmented or self.reports_written)

    def line(self) -> str:
        """The one summary line."""
        if not self.changed:
            text = f"update: nothing new ({self.files_known} files already imported"
            text += f", {self.reports_unchanged} reports unchanged)" if self.reports_unchanged else ")"
            return text
        parts = [f"{self.files_imported} new file{'s' if self.files_imported != 1 else ''} imported "
                 f"({self.points_added} points added)", f"{self.months_segmented} month(s) segmented"]
        if self.rejected or self.failed:
            parts.append(f"{self.failed} file(s) failed, {self.rejected} record(s) rejected")
        if self.reports_written or self.reports_unchanged:
            parts.append(f"reports: {len(self.reports_written)} written, {self.reports_unchanged} unchanged")
        return "update: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "changed": self.changed}


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _month_index(month: str) -> int:
    y, m = month.split("-")
    return int(y) * 12 + int(m) - 1


def _inputs_keys(store: Any, months: list[str], user_id: str | None, cfg: Any) -> dict[str, str]:
    """Each month's inputs key (module docstring)."""
    from mobco2 import __version__

    sql = "SELECT user_id, year, month, fingerprint FROM segment_state"
    params: list[object] = []
    if user_id:
        sql += " WHERE user_id = ?"
        params.append(user_id)
    with store.reader() as con:
        rows = con.execute(sql + " ORDER BY ALL", params).fetchall()
    by_month: dict[int, list] = {}
    for u, y, m, fp in rows:
        by_month.setdefault(int(y) * 12 + int(m) - 1, []).append((u, fp))
    settings = json.dumps(sorted((v.key, v.value) for v in cfg.values()), default=str)
    keys = {}
    for month in months:
        i = _month_index(month)
        window = [(j, by_month.get(j, [])) for j in range(i - 13, i + 2)]
        blob = json.dumps([__version__, user_id, settings, window], default=str)
        keys[month] = hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()
    return keys


def _read_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return {"months": {}}
    return state if isinstance(state, dict) and isinstance(state.get("months"), dict) else {"months": {}}


def remove_temporaries(folder: Path) -> int:
    """Remove the temporary files of writes a killed run left in ``folder``; returns how many."""
    n = 0
    for p in folder.glob(".*.tmp"):
        if p.is_file() and (p.name.startswith(".mobco2-") or p.name.startswith(f".{STATE_FILE}.")):
            p.unlink(missing_ok=True)
            n += 1
    return n


def write_reports(
    store: Any, folder: Path, *, user_id: str | None = None, cfg: Any = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[str], int, int]:
    """Write the changed months' reports into ``folder``: ``(files written, files unchanged,
    temporaries removed)``."""
    from mobco2.export.atomic import write_atomic
    from mobco2.export.render import render
    from mobco2.export.report_model import months_with_data, report

    if cfg is None:
        from mobco2 import config

        cfg = config.load()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from mobco2.errors import OutputError

        raise OutputError(f"cannot create {folder}: {e.strerror}", hint="check --report-dir") from None
    removed = remove_temporaries(folder)
    state = _read_state(folder)
    months = months_with_data(store, user_id)
    keys = _inputs_keys(store, months, user_id, cfg)
    written: list[str] = []
    unchanged = 0
    for month in months:
        names = [f"mobco2-{month}.{fmt}" for fmt in REPORT_FORMATS]
        recorded = state["months"].get(month) or {}
        if recorded.get("key") == keys[month] and all(
            recorded.get("files", {}).get(n) == _sha256(folder / n) for n in names
        ):
            unchanged += len(names)
            continue
        if progress:
            progress(f"report {month}")
        rep = report(store, month=month, user_id=user_id, config=cfg)
        hashes = {}
        for fmt, name in zip(REPORT_FORMATS, names, strict=True):
            data = render(rep, fmt).encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            if _sha256(folder / name) != digest:
                write_atomic(folder / name, data)
                written.append(name)
            else:
                unchanged += 1
            hashes[name] = digest
        state["months"][month] = {"key": keys[month], "files": hashes}
        # the state goes after the month's files: a kill between them only costs a re-render
        write_atomic(folder / STATE_FILE, json.dumps(state, indent=1, sort_keys=True) + "\n")
    return written, unchanged, removed


def update(
    store: Any, *, report_dir: Path | None = None, user_id: str | None = None, allow_rejects: bool = False,
    progress: Callable[[str], None] | None = None,
) -> UpdateSummary:
    """Import new files from ``sources.paths``, segment what changed, write changed reports.

    Never prompts. Raises the errors of its steps (module docstring for exit codes); a source with
    rejected records does not stop the run, it sets ``exit_code`` to 65 (unless ``allow_rejects``).

    Example::

        summary = update(Store("~/s"), report_dir=Path("~/reports"))
        print(summary.line())
    """
    from mobco2 import config
    from mobco2.ingest import import_paths
    from mobco2.segment import segment

    cfg = config.load()
    sources = [str(Path(p).expanduser()) for p in cfg["sources.paths"]]
    if not sources:
        raise UsageError("no source folders configured for `mobco2 update`",
                         hint='add [sources] paths = ["~/Downloads/tracks"] to config.toml')
    imp = import_paths(store, sources, user_id=user_id, allow_rejects=allow_rejects)
    summary = UpdateSummary(
        files_seen=len(imp.files),
        files_known=sum(1 for f in imp.files if f.status == "already-imported"),
        files_imported=sum(1 for f in imp.files if f.status == "imported"),
        points_added=imp.total("added"),
        rejected=imp.total("rejected"),
        failed=sum(1 for f in imp.files if f.status == "failed"),
        exit_code=imp.exit_code,
    )
    seg = segment(store, user_id=user_id, progress=progress)
    summary.months_segmented = seg.months_recomputed
    if report_dir is not None:
        written, unchanged, removed = write_reports(store, Path(report_dir), user_id=user_id, cfg=cfg,
                                                    progress=progress)
        summary.reports_written, summary.reports_unchanged, summary.temporaries_removed = written, unchanged, removed
    return summary
