#!/usr/bin/env python3
"""Throughput vs clients, one panel per scenario, for both locking strategies and the
pgbench ceiling, from the JSON lines that benches/run-locking.sh and
benches/pgbench/run.sh write.

    python3 -m venv /tmp/plot-venv && /tmp/plot-venv/bin/pip install matplotlib
    /tmp/plot-venv/bin/python benches/plot.py benches/results/*.jsonl \
        -o benches/throughput-vs-clients.png

When several lines measure the same (series, scenario, clients), the median is drawn.
With --table it also prints the Markdown table of benches/RESULTS.md (medians over the
repeated runs, the orders/s range, and Emporium as a fraction of the pgbench ceiling).
"""

import argparse
import json
import statistics
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SCENARIOS = [
    ("uniform", "uniform: 1 unit of 1 SKU out of 10,000"),
    ("hot", "hot: every order takes the same SKU"),
    ("crossed", "crossed: 2-item baskets, opposite line orders"),
]
SERIES = [
    ("pessimistic", "Emporium, pessimistic (SELECT … FOR UPDATE)", "tab:blue", "o", "-"),
    ("optimistic", "Emporium, optimistic (version + retry)", "tab:orange", "s", "-"),
    ("pgbench", "PostgreSQL ceiling: same SQL via pgbench", "tab:gray", "^", "--"),
]


def load_rows(paths):
    """Every measured run, grouped by (series, scenario, clients)."""
    rows = defaultdict(list)
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                row = json.loads(line)
                series = row.get("strategy") or row.get("label")
                if series not in {s[0] for s in SERIES} or "orders_per_s" not in row:
                    continue
                if row.get("superseded"):
                    continue
                rows[(series, row["scenario"], row["clients"])].append(row)
    return rows


def medians(rows):
    return {k: statistics.median(r["orders_per_s"] for r in v) for k, v in rows.items()}


def table(rows):
    """The Markdown results table: one line per (scenario, clients, strategy)."""
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    print(
        "| scenario | clients | strategy | runs | orders/s median (min-max) | p50 ms | p95 ms "
        "| p99 ms | 409 rate | errors (5xx) | stock consistent | pgbench orders/s | "
        "fraction of ceiling | load avg (1 min) |"
    )
    print("|" + "---|" * 14)
    for scenario, _ in SCENARIOS:
        clients = sorted({c for (s, sc, c) in rows if sc == scenario and s != "pgbench"})
        for c in clients:
            ceiling_runs = rows.get(("pgbench", scenario, c), [])
            ceiling = med(ceiling_runs, "orders_per_s") if ceiling_runs else None
            for strategy in ("pessimistic", "optimistic"):
                runs = rows.get((strategy, scenario, c))
                if not runs:
                    continue
                tput = [r["orders_per_s"] for r in runs]
                loads = [float(r["loadavg"].split()[0]) for r in runs]
                consistent = sum(1 for r in runs if r["stock_consistent"])
                conflict = max(r["conflict_rate"] for r in runs)
                errors = sum(r["errors"] for r in runs)
                server_errors = sum(r.get("server_errors", 0) for r in runs)
                fraction = f"{statistics.median(tput) / ceiling:.0%}" if ceiling else "-"
                print(
                    f"| {scenario} | {c} | {strategy} | {len(runs)} | "
                    f"{statistics.median(tput):.0f} ({min(tput):.0f}-{max(tput):.0f}) | "
                    f"{med(runs, 'p50_ms'):.1f} | {med(runs, 'p95_ms'):.1f} | "
                    f"{med(runs, 'p99_ms'):.1f} | {conflict:.1%} | {errors} ({server_errors}) | "
                    f"{consistent}/{len(runs)} | "
                    f"{ceiling:.0f} | {fraction} | {min(loads):.1f}-{max(loads):.1f} |"
                    if ceiling
                    else f"| {scenario} | {c} | {strategy} | {len(runs)} | "
                    f"{statistics.median(tput):.0f} | - | - | - | - | - | - | - | - | - |"
                )


def ceiling_table(rows):
    """The pgbench runs on their own: throughput and latency of the bare SQL."""
    print("| scenario | clients | runs | orders/s median (min-max) | p50 ms | p95 ms | p99 ms "
          "| failed | load avg (1 min) |")
    print("|" + "---|" * 9)
    for scenario, _ in SCENARIOS:
        for c in sorted({c for (s, sc, c) in rows if sc == scenario and s == "pgbench"}):
            runs = rows[("pgbench", scenario, c)]
            tput = [r["orders_per_s"] for r in runs]
            loads = [float(r["loadavg"].split()[0]) for r in runs]
            med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
            print(
                f"| {scenario} | {c} | {len(runs)} | {statistics.median(tput):.0f} "
                f"({min(tput):.0f}-{max(tput):.0f}) | {med('p50_ms'):.1f} | {med('p95_ms'):.1f} "
                f"| {med('p99_ms'):.1f} | {sum(r['failed'] for r in runs)} "
                f"| {min(loads):.1f}-{max(loads):.1f} |"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSON-lines result files")
    parser.add_argument("-o", "--output", default="benches/throughput-vs-clients.png")
    parser.add_argument("--title", default="")
    parser.add_argument("--table", action="store_true", help="print the Markdown tables")
    args = parser.parse_args()
    rows = load_rows(args.results)
    if args.table:
        table(rows)
        print()
        ceiling_table(rows)
    points = medians(rows)
    spread = {k: (min(r["orders_per_s"] for r in v), max(r["orders_per_s"] for r in v))
              for k, v in rows.items()}

    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(15, 4.8), sharey=True)
    for ax, (scenario, title) in zip(axes, SCENARIOS):
        for key, label, color, marker, style in SERIES:
            xs = sorted(c for (s, sc, c) in points if s == key and sc == scenario)
            if not xs:
                continue
            ys = [points[(key, scenario, c)] for c in xs]
            ax.plot(xs, ys, style, color=color, marker=marker, label=label)
            lo = [spread[(key, scenario, c)][0] for c in xs]
            hi = [spread[(key, scenario, c)][1] for c in xs]
            ax.fill_between(xs, lo, hi, color=color, alpha=0.12, linewidth=0)
        ax.set_xscale("log", base=2)
        ax.set_xlim(min(xs) * 0.85, max(xs) * 1.15)
        clients = sorted({c for (_, sc, c) in points if sc == scenario})
        ax.set_xticks(clients)
        ax.set_xticklabels([str(c) for c in clients])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("concurrent clients")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("confirmed orders / s")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(
        args.title
        or "Order placement throughput vs clients (2 cores, PostgreSQL 15): "
        "median of the runs, band = min-max"
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
