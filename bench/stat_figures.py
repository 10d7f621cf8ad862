"""What three more figures cost the province's figures since the start (issue 14).

Revision 0013 adds what youth programmes add up to (budget, mobilised, models replicated) to
the running totals and to the index the province's figures are read from. Two SQLite files
made by the project's migrations, one at 0012 (before) and one at the newest revision, hold
the same `stat_totals` rows (700 units x 71 months, a kind and a status each; the new
figures are not 0 only on rows of youth programmes, as in the bot); the query of
`models.stats.totals` with no scope and no months runs on both, taking turns, and the
medians are compared.

    .venv/bin/python -m bench.stat_figures
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine

from models.db import MIGRATIONS

BEFORE = ("entries", "participants", "volunteer_hours", "beneficiaries", "jobs", "revenue")
AFTER = (*BEFORE, "budget", "mobilised", "models_replicated")
KINDS = ("volunteer", "initiative", "economic_model", "programme")
STATUSES = ("approved", "submitted", "rejected")


def build(path: Path, revision: str, names: tuple[str, ...], units: int, months: int) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.exec_driver_sql(
            "INSERT INTO units (id, code, name, search_name, kind, created_at) "
            "VALUES (1, 'p', 'P', 'p', 'province', '2025-01-01')"
        )
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.executemany(
            "INSERT INTO units (id, code, name, search_name, kind, parent_id, created_at) "
            "VALUES (?, ?, 'U', 'u', 'commune', 1, '2025-01-01')",
            [(unit, f"u{unit}") for unit in range(2, units + 2)],
        )
        rng = random.Random(7)  # noqa: S311 (the same rows in both files)
        rows = []
        for unit in range(2, units + 2):
            for month in range(months):
                kind, status = rng.choice(KINDS), rng.choice(STATUSES)
                figures = [rng.randint(1, 50) for _ in BEFORE]
                programme = [rng.randint(1, 50) for _ in AFTER[len(BEFORE) :]]
                if kind == "programme":  # entries, budget and models only
                    figures = [figures[0], 0, 0, 0, 0, 0]
                else:
                    programme = [0, 0, 0]
                if len(names) == len(BEFORE):
                    kind, programme = ("volunteer" if kind == "programme" else kind), []
                key = (unit, f"{2021 + month // 12}-{month % 12 + 1:02d}", kind, status)
                rows.append((*key, *figures, *programme))
        columns = ", ".join(names)
        marks = ", ".join("?" for _ in names)
        raw.executemany(
            f"INSERT OR IGNORE INTO stat_totals (unit_id, month, kind, status, {columns}) "  # noqa: S608
            f"VALUES (?, ?, ?, ?, {marks})",
            rows,
        )
    engine.dispose()


def figures_query(names: tuple[str, ...]) -> str:
    sums = ", ".join(f"sum({name})" for name in names)
    return f"SELECT kind, status, {sums} FROM stat_totals WHERE 1 GROUP BY kind, status"  # noqa: S608


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=700)
    parser.add_argument("--months", type=int, default=71)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = {"0012": Path(folder) / "before.sqlite3", "0013": Path(folder) / "after.sqlite3"}
        build(files["0012"], "0012", BEFORE, args.units, args.months)
        build(files["0013"], "head", AFTER, args.units, args.months)
        runs = {
            revision: (
                sqlite3.connect(path),
                figures_query(BEFORE if revision == "0012" else AFTER),
            )
            for revision, path in files.items()
        }
        for revision, (db, sql) in runs.items():
            plan = " ".join(str(step[-1]) for step in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
            rows = db.execute("SELECT count(*) FROM stat_totals").fetchone()[0]
            print(f"{revision}: {rows:,} rows; {plan}")
            for _ in range(3):
                db.execute(sql).fetchall()
        times: dict[str, list[float]] = {revision: [] for revision in runs}
        for _ in range(args.runs):  # taking turns, so that the machine's load weighs on both
            for revision, (db, sql) in runs.items():
                start = time.perf_counter()
                db.execute(sql).fetchall()
                times[revision].append(time.perf_counter() - start)
        for revision, found in times.items():
            found.sort()
            p95 = found[int(len(found) * 0.95) - 1]
            print(
                f"{revision}: p50 {statistics.median(found) * 1000:.2f} ms, "
                f"p95 {p95 * 1000:.2f} ms"
            )
        ratio = statistics.median(times["0013"]) / statistics.median(times["0012"])
        print(f"0013 / 0012 (p50): {ratio:.2f}x")
        for db, _ in runs.values():
            db.close()


if __name__ == "__main__":
    main()
