"""Question 1's section: the answer, the verdicts table and its legend."""

from __future__ import annotations

from record import (
    RecordedRun,
)
from report import claims, question1, readings, selection, verdicts
from report.model import Section, Table


def question_one(run: RecordedRun, lang: claims.Lang) -> Section:
    """The course's eighteen items in its order, each judged from this run by one rule."""
    judged = question1.judge(run)
    m, pin = run.data["machine"], run.data["pinning"]
    load = readings.headline(run)
    reference = selection.at_text(load) if load else "–"
    if lang == "fr":
        section = Section("Question 1, mesurée")
        where = (
            f"{m['cpu_model']}, {m['cores']} cœurs ; serveurs sur le CPU {pin['server_cpus']}, "
            f"générateur de charge sur le CPU {pin['driver_cpus']}"
        )
        conditions = (
            f"Machine : {where}. Charge de référence : {reference} ; chaque ligne dit où sa "
            "mesure a été prise. n = répétitions (ou essais) par transport. Règle, par paire : "
            "un test U de Mann–Whitney exact et bilatéral sur les valeurs par répétition, "
            "p < 0,05, et des médianes à plus de 10 % l'une de l'autre (mesures comptées : les "
            "10 % seuls). Aucune étape saturée n'est citée (cœur serveur ≤ 80 %, générateur "
            "≤ 70 %), et une p99 demande au moins 1 000 événements par répétition. "
            "Intervalles : min–max sous 5 répétitions, intervalle bootstrap à 95 % de la "
            "médiane à partir de 5 ; une mesure comptée n'en a pas."
        )
    else:
        section = Section("Question 1, measured")
        where = (
            f"{m['cpu_model']}, {m['cores']} cores; servers on CPU {pin['server_cpus']}, the "
            f"load generator on CPU {pin['driver_cpus']}"
        )
        conditions = (
            f"Machine: {where}. Reference load: {reference}; each row says where its figure "
            f"was measured. n = repeats (or trials) per transport. The rule: {claims.RULE}. "
            "No saturated step is cited (server core ≤ 80 %, driver core ≤ 70 %), and a p99 "
            "needs at least 1,000 events per repeat. Intervals: min–max below 5 repeats, the "
            "95 % bootstrap interval of the median from 5; a counted figure has none."
        )
    section.blocks.append(verdicts.answer(judged, lang))
    left = [j.item for j in judged if j.verdict == "not measured"]
    if left:
        names = ", ".join(
            f"{verdicts.NAMES[lang][i.transport]}: {i.fr if lang == 'fr' else i.en} (`{i.claim}`)"
            for i in left
        )
        section.blocks.append(
            f"**Non mesurés par ce profil**, laissés au profil par défaut (`make bench`) : {names}."
            if lang == "fr"
            else f"**Not measured by this profile**, left to the default (`make bench`): {names}."
        )
    section.blocks.append(conditions)
    section.blocks.append("\n".join(f"- {line}" for line in verdicts.LEGEND[lang]))
    section.blocks.append(Table(verdicts.HEADERS[lang], [verdicts.row(j, lang) for j in judged]))
    return section
