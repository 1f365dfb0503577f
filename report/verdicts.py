"""Judged claims in words and as data: the report's table rows and one-paragraph answer, in
English or French, and the objects of `verdicts.json`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from record import TRANSPORTS
from record.display import number
from report.claims import Figure, Judged, Lang, Measure, Reading
from report.stats import Difference

NAMES: dict[Lang, dict[str, str]] = {
    "en": {"longpoll": "Long polling", "sse": "SSE", "ws": "WebSocket"},
    "fr": {"longpoll": "Long polling", "sse": "SSE", "ws": "WebSocket"},
}
ITEM_KINDS: dict[Lang, dict[str, str]] = {
    "en": {"advantage": "advantage", "limit": "limit", "use case": "use case"},
    "fr": {"advantage": "avantage", "limit": "limite", "use case": "cas d'usage"},
}
VERDICTS: dict[Lang, dict[str, str]] = {
    "en": {"confirmed": "confirmed", "inconclusive": "inconclusive", "refuted": "refuted",
           "not measured": "not measured"},
    "fr": {"confirmed": "confirmé", "inconclusive": "non concluant", "refuted": "réfuté",
           "not measured": "non mesuré"},
}  # fmt: skip
DIRECTIONS: dict[Lang, dict[str, str]] = {
    "en": {"higher": "higher than", "lower": "lower than", "same": "no different from"},
    "fr": {"higher": "plus haut que", "lower": "plus bas que", "same": "pas différent de"},
}
LEGEND: dict[Lang, list[str]] = {
    "en": [
        "**confirmed**: every comparison goes the way the course says (for a limit: the limit "
        "was observed);",
        "**inconclusive**: a difference inside the noise, or comparisons that disagree;",
        "**refuted**: every comparison goes the other way.",
    ],
    "fr": [
        "**confirmé** : chaque comparaison va dans le sens du cours (pour une limite : la "
        "limite a été observée) ;",
        "**non concluant** : un écart dans le bruit, ou des comparaisons qui se contredisent ;",
        "**réfuté** : chaque comparaison va dans l'autre sens.",
    ],
}


def figure_text(reading: Reading, measure: Measure, lang: Lang) -> str:
    if isinstance(reading, str):
        return ("missing: " if lang == "en" else "absent : ") + reading
    s = reading.spread
    unit = f" {measure.unit}" if measure.unit and measure.unit != "×" else measure.unit
    middle = number(s.median, measure.digits, lang) + unit
    if s.n == 1:
        return middle
    low, high = number(s.low, measure.digits, lang), number(s.high, measure.digits, lang)
    return f"{middle} [{low}–{high}]"


def difference_text(d: Difference, other: str, lang: Lang) -> str:
    detail = []
    if d.ratio is not None:
        detail.append(f"×{number(d.ratio, 2, lang)}")
    if d.p is not None:
        detail.append(f"p = {number(d.p, 3, lang)}")
    words = f"{DIRECTIONS[lang][d.direction]} {NAMES[lang][other]}"
    return words + (f" ({', '.join(detail)})" if detail else "")


def n_text(judged: Judged) -> str:
    """The repeats behind the figures and their interval, or `counted` for exact figures."""
    figures = judged.found
    if not figures:
        return "–"
    ns = "/".join(str(n) for n in sorted({f.spread.n for f in figures}))
    methods = sorted({f.spread.method for f in figures if f.spread.n > 1})
    return f"{ns} ({', '.join(methods)})" if methods else f"{ns} (counted)"


def cores_text(judged: Judged) -> str:
    """The busiest server and load-generator cores among the steps the figures cite."""

    def busiest(values: list[float | None]) -> str:
        found = [v for v in values if v is not None]
        return f"{max(found):.0%}".replace("%", "\u202f%") if found else "–"

    figures = judged.found
    server = busiest([f.server_core for f in figures])
    driver = busiest([f.driver_core for f in figures])
    return f"{server} / {driver}"


def row(judged: Judged, lang: Lang) -> list[str]:
    item = judged.item
    several = len(item.measures) > 1
    figures, why = [], []
    for measure in item.measures:
        name = measure.en if lang == "en" else measure.fr
        readings = judged.figures[measure.key]
        where = next((r.where for r in readings.values() if isinstance(r, Figure)), "")
        values = "; ".join(
            f"{NAMES[lang][t]} {figure_text(r, measure, lang)}" for t, r in readings.items()
        )
        figures.append(f"{name}: {values}" + (f" ({where})" if where else ""))
        for other, d in judged.differences.get(measure.key, {}).items():
            why.append((f"{name}: " if several else "") + difference_text(d, other, lang))
    return [
        ITEM_KINDS[lang][item.kind],
        NAMES[lang][item.transport],
        f"{item.fr} ({item.en})" if lang == "en" else item.fr,
        " — ".join(figures),
        n_text(judged),
        cores_text(judged),
        f"**{VERDICTS[lang][judged.verdict]}**",
        "; ".join(why or judged.missing),
    ]


HEADERS: dict[Lang, list[str]] = {
    "en": ["kind", "transport", "the course says", "figure judged (median [interval])", "n",
           "busiest server / load-generator core", "verdict", "how it compares"],
    "fr": ["type", "transport", "le cours dit", "mesure jugée (médiane [intervalle])", "n",
           "cœur serveur / générateur le plus chargé", "verdict", "comparaison"],
}  # fmt: skip


def answer(judged: Sequence[Judged], lang: Lang) -> str:
    """The one-paragraph answer: per transport, what the run confirmed and what it did not."""
    sentences = []
    for t in TRANSPORTS:
        mine = [j for j in judged if j.item.transport == t]
        groups: dict[str, list[str]] = {}
        for j in mine:
            words = j.item.en if lang == "en" else j.item.fr
            groups.setdefault(j.verdict, []).append(words)
        parts = [
            f"{VERDICTS[lang][v]}: {', '.join(groups[v])}"
            for v in ("confirmed", "inconclusive", "refuted", "not measured")
            if v in groups
        ]
        sentences.append(f"**{NAMES[lang][t]}** — " + "; ".join(parts) + ".")
    counts = {v: sum(1 for j in judged if j.verdict == v) for v in VERDICTS["en"]}
    if lang == "fr":
        head = (f"Sur les {len(judged)} points du cours, cette exécution en confirme "
                f"{counts['confirmed']}, en laisse {counts['inconclusive']} non concluants et "
                f"en réfute {counts['refuted']}.")  # fmt: skip
    else:
        head = (f"Of the course's {len(judged)} items, this run confirms {counts['confirmed']}, "
                f"leaves {counts['inconclusive']} inconclusive and refutes "
                f"{counts['refuted']}.")  # fmt: skip
    if counts["not measured"]:
        head += (f" {counts['not measured']} not measured."
                 if lang == "en" else f" {counts['not measured']} non mesurés.")  # fmt: skip
    return " ".join([head, *sentences])


# -- machine-readable --------------------------------------------------------------------------


def figure_json(reading: Reading) -> dict[str, Any]:
    if isinstance(reading, str):
        return {"missing": reading}
    s = reading.spread
    return {
        "median": s.median, "low": s.low, "high": s.high, "n": s.n, "interval": s.method,
        "values": list(reading.values), "where": reading.where, "steps": list(reading.steps),
        "server_core_max": reading.server_core, "driver_core_max": reading.driver_core,
        "driver_cpu_us_per_message": reading.driver_cpu_us_per_message,
    }  # fmt: skip


def as_json(judged: Sequence[Judged]) -> list[dict[str, Any]]:
    out = []
    for j in judged:
        item = j.item
        out.append({
            "claim": item.claim, "kind": item.kind, "transport": item.transport,
            "course": {"fr": item.fr, "en": item.en}, "verdict": j.verdict,
            "expect": item.expect, "against": list(item.against), "because": item.because,
            "steps": sorted({step for f in j.found for step in f.steps}),
            "n": sorted({f.spread.n for f in j.found}),
            "figures": {
                m.key: {"name": m.en, "unit": m.unit, "counted": m.counted,
                        "transports": {t: figure_json(r) for t, r in j.figures[m.key].items()}}
                for m in item.measures
            },
            "comparisons": {
                key: {o: {"direction": d.direction, "p": d.p, "ratio": d.ratio}
                      for o, d in by.items()}
                for key, by in j.differences.items()
            },
        })  # fmt: skip
    return out
