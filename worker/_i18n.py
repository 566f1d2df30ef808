"""Message texts for ``sazinkactl`` in Czech, English and Slovak, by i18n key."""

from __future__ import annotations

import os

LANGS = ("cs", "en", "sk")

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (cs, en, sk)
    "jobs:cancelled_by_user": ("Zrušeno uživatelem", "Cancelled by user", "Zrušené používateľom"),
    "jobs:cancel_requested": (
        "Zastavení vyžádáno; úloha skončí na nejbližším kontrolním bodě",
        "Cancel requested; the job stops at its next checkpoint",
        "Zastavenie vyžiadané; úloha skončí na najbližšom kontrolnom bode",
    ),
    "jobs:not_cancellable": (
        "Tuto úlohu nelze zastavit; doběhne do konce",
        "This job cannot be stopped; it will finish",
        "Túto úlohu nemožno zastaviť; dobehne do konca",
    ),
    "jobs:already_finished": (
        "Úloha už skončila",
        "The job has already finished",
        "Úloha už skončila",
    ),
    "jobs:cancel_confirm": (
        "Opravdu chcete zastavit tuto úlohu? Již zpracovaná data zůstanou v systému.",
        "Do you really want to stop this job? Data already processed stay in the system.",
        "Naozaj chcete zastaviť túto úlohu? Už spracované dáta zostanú v systéme.",
    ),
    "jobs:cancel_forbidden": (
        "Nemáte oprávnění zrušit tuto úlohu",
        "You are not allowed to cancel this job",
        "Nemáte oprávnenie zrušiť túto úlohu",
    ),
    "jobs:not_found": ("Úloha neexistuje", "No such job", "Úloha neexistuje"),
    "jobs:unknown_type": ("Neznámý typ úlohy", "Unknown job type", "Neznámy typ úlohy"),
    "jobs:file_required": (
        "Tento typ úlohy potřebuje soubor (--file)",
        "This job type needs a file (--file)",
        "Tento typ úlohy potrebuje súbor (--file)",
    ),
    "jobs:wait_timeout": (
        "Úloha do vypršení času neskončila",
        "The job did not finish in time",
        "Úloha do uplynutia času neskončila",
    ),
    "jobs:formatting": ("Formátování", "Formatting", "Formátovanie"),
    "jobs:packing_zip": ("Balení ZIP", "Packing the ZIP", "Balenie ZIP"),
    "jobs:aborted": (
        "Zrušení nebylo odesláno",
        "Nothing was cancelled",
        "Zrušenie nebolo odoslané",
    ),
    "jobs:submitted": ("Úloha zařazena do fronty", "Job queued", "Úloha zaradená do frontu"),
    "errors:internal": ("Vnitřní chyba", "Internal error", "Vnútorná chyba"),
    "errors:invalid_argument": ("Neplatný vstup", "Invalid input", "Neplatný vstup"),
    "errors:payload_too_large": (
        "Vstup je příliš velký",
        "Input too large",
        "Vstup je príliš veľký",
    ),
    "errors:unavailable": (
        "Supervisor není dostupný",
        "The supervisor cannot be reached",
        "Supervisor nie je dostupný",
    ),
    "errors:shutting_down": (
        "Supervisor se vypíná",
        "The supervisor is shutting down",
        "Supervisor sa vypína",
    ),
    "errors:unauthorized": ("Neplatný token", "Invalid token", "Neplatný token"),
    "errors:token_expired": (
        "Platnost tokenu vypršela",
        "The token has expired",
        "Platnosť tokenu vypršala",
    ),
    "errors:forbidden": ("Nepovoleno", "Not allowed", "Nepovolené"),
    "errors:admin_only": (
        "Jen pro administrátory",
        "For administrators only",
        "Len pre administrátorov",
    ),
    "state:queued": ("ve frontě", "queued", "vo fronte"),
    "state:running": ("běží", "running", "beží"),
    "state:cancelling": ("zastavuje se", "cancelling", "zastavuje sa"),
    "state:completed": ("dokončeno", "completed", "dokončené"),
    "state:failed": ("selhalo", "failed", "zlyhalo"),
    "state:cancelled": ("zrušeno", "cancelled", "zrušené"),
}

YES = {"cs": ("a", "ano", "y", "yes"), "en": ("y", "yes"), "sk": ("a", "áno", "ano", "y", "yes")}


def default_lang() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            code = value[:2].lower()
            return code if code in LANGS else "en"
    return "en"


def text(key: str, lang: str) -> str:
    entry = _TEXTS.get(key)
    if entry is None:
        return key
    return entry[LANGS.index(lang) if lang in LANGS else 1]


def keys() -> frozenset[str]:
    return frozenset(_TEXTS)
