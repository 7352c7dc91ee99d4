"""The store's catalog (``<root>/catalog.duckdb``): its tables, as ordered, named migrations.

:class:`mobco2.store.Store` applies the ones a catalog has not seen yet, in order, each in its
own transaction, and records them in ``schema_migrations``; a catalog that knows a migration this
version does not is refused (a newer mobco2 wrote it).
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_catalog",
        """
        CREATE TABLE imports (
            import_id VARCHAR PRIMARY KEY,
            path VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            user_id VARCHAR NOT NULL,
            rows_in BIGINT NOT NULL,
            rows_added BIGINT NOT NULL,
            rows_duplicate BIGINT NOT NULL,
            rows_rejected BIGINT NOT NULL,
            rows_skipped BIGINT NOT NULL,
            segments_added BIGINT NOT NULL,
            visits_added BIGINT NOT NULL,
            labels_added BIGINT NOT NULL,
            unmapped_modes VARCHAR,
            imported_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX imports_sha ON imports (sha256, user_id);
        CREATE TABLE labels (
            label_id VARCHAR PRIMARY KEY,
            user_id VARCHAR NOT NULL,
            started_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ,
            trip_id VARCHAR,
            leg_id VARCHAR,
            mode VARCHAR,
            raw_mode VARCHAR,
            occupancy SMALLINT,
            vehicle VARCHAR,
            purpose VARCHAR,
            origin VARCHAR NOT NULL,
            set_at TIMESTAMPTZ NOT NULL,
            import_id VARCHAR
        );
        CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR);
        CREATE TABLE parquet_files (
            table_name VARCHAR NOT NULL,
            path VARCHAR NOT NULL PRIMARY KEY,
            user_id VARCHAR NOT NULL,
            year INTEGER NOT NULL,
            month INTEGER NOT NULL,
            rows BIGINT NOT NULL,
            txn VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        # mobco2.segment: one row per user and month segmented (no key: rows are deleted and
        # re-inserted within one transaction, which DuckDB's eager key checks would refuse)
        "0002_segment_state",
        """
        CREATE TABLE segment_state (
            user_id VARCHAR NOT NULL,
            year INTEGER NOT NULL,
            month INTEGER NOT NULL,
            fingerprint VARCHAR NOT NULL,
            params_hash VARCHAR NOT NULL,
            segmented_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        # mobco2.export.send: consent per destination, and every submission sent (never the document)
        "0003_submissions",
        """
        CREATE TABLE submission_consents (
            url VARCHAR PRIMARY KEY,
            granted_at TIMESTAMPTZ NOT NULL,
            how VARCHAR NOT NULL
        );
        CREATE TABLE submissions (
            url VARCHAR NOT NULL,
            period VARCHAR NOT NULL,
            participant VARCHAR NOT NULL,
            revision INTEGER NOT NULL,
            document_sha256 VARCHAR NOT NULL,
            content_sha256 VARCHAR NOT NULL,
            outcome VARCHAR NOT NULL,
            http_status INTEGER,
            answer VARCHAR,
            attempts INTEGER NOT NULL,
            sent_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
]
"""Ordered, named catalog migrations. Append new ones; never edit one that has shipped."""
