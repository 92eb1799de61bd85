"""Results as plain text tables for a terminal: an evaluation beside its baselines, a bench."""

from __future__ import annotations


def metrics_text(m: dict) -> str:
    """An evaluation (metrics.json) as a table: the run beside its baselines, extra protocols, verdicts."""
    rows = [(f"{m['preset']} (this run)", m["model"])] + [(n, b["metrics"]) for n, b in m["baselines"].items()]
    keys = list(dict.fromkeys(k for _, r in rows for k in r if isinstance(r[k], (int, float))))
    first = max(26, *(len(n) + 2 for n, _ in rows))
    widths = [max(10, len(k) + 2) for k in keys]  # a long metric name never runs into its neighbour
    lines = [f"{m['lab']}: {m['protocol']}, {m['split']} split",
             f"{'model':<{first}}" + "".join(f"{k:>{w}}" for k, w in zip(keys, widths))]
    for name, r in rows:
        lines.append(f"{name:<{first}}" + "".join(f"{r.get(k, float('nan')):>{w}.4g}" for k, w in zip(keys, widths)))
    for p in m.get("protocols", {}).values():
        lines.append(f"{p.get('protocol', '')}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in p.get("model", {}).items() if isinstance(v, (int, float))))
    lines += [f"- {line}" for line in m.get("verdict", [])]
    return "\n".join(lines)


def bench_text(result: dict) -> str:
    """A bench result as a Markdown table."""
    keys = list(dict.fromkeys(k for r in result["rows"] for k in r["metrics"]))
    extra = list(dict.fromkeys(k for r in result["rows"] for k, v in r.items() if isinstance(v, dict) and k != "metrics"))

    def protocol_cell(row: dict, name: str) -> str:
        values = row.get(name) or {}
        first = next((k for k in values if not k.endswith("_sd")), None)
        if first is None:
            return ""
        sd = values.get(f"{first}_sd")
        return f"{first} {values[first]:.4g}" + (f" ± {sd:.2g}" if sd is not None else "")

    lines = [f"{result['lab']}: {result['protocol']} ({result['device']})",
             f"| {'model':<20} | {'kind':<8} | " + " | ".join(f"{k:>8}" for k in keys) + " | train s |"
             + "".join(f" {name:<20} |" for name in extra),
             "|" + "---|" * (len(keys) + 3 + len(extra))]
    for r in result["rows"]:
        lines.append(f"| {r['name']:<20} | {r['kind']:<8} | "
                     + " | ".join(f"{r['metrics'].get(k, float('nan')):>8.4g}" for k in keys)
                     + f" | {r['train_seconds']:>7.2f} |" + "".join(f" {protocol_cell(r, n):<20} |" for n in extra))
    return "\n".join(lines) + "\n"
