"""The book's guarded verdicts: the quick profile's and each stored run's, one per check.

    python scripts/verdicts.py show     # the verdicts of the last build's ledger, and how they differ
    python scripts/verdicts.py update [CHAPTER ...]   # write them to tests/verdicts.json (commit it, saying why)

``tests/verdicts.json`` maps chapter -> profile (``quick`` or a stored run's name) -> check
(``claim/rule/cell``) -> verdict. ``tests/test_guarded_verdicts.py`` compares the ledger of the last build (or
of the notebooks the test command just executed) with it; a changed verdict is a deliberate edit of
that file. The paper profile and readers' own runs (other parameters) are never compared.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgnb.chapters import all_chapters  # noqa: E402
from cgnb.engine import aot, ledger  # noqa: E402

FILE = ROOT / "tests" / "verdicts.json"
GUARDED_PROFILE = "quick"


def check_key(record: dict) -> str:
    """``"C4.5/crossing/25 %"``: a check's key in the verdict file."""
    return "/".join(part for part in (record["claim"], record["rule"], record["cell"]) if part)


def default_parameters(chapter) -> dict:
    """The chapter notebook's ``parameters`` under the quick profile, as the ledger records them."""
    values = aot.notebook_parameters(ROOT / chapter.notebook, GUARDED_PROFILE)
    return json.loads(json.dumps(values, default=str))


def guarded(records: list[dict]) -> tuple[dict, list[str]]:
    """The verdicts to guard from ledger records, and the problems that keep a chapter from being compared
    (its quick records come from a run with other parameters than the notebook's defaults)."""
    verdicts, problems = {}, []
    for chapter in all_chapters():
        own = [r for r in records if r["chapter"] == chapter.name and r["profile"] != "paper"]
        quick = [r for r in own if r["profile"] == GUARDED_PROFILE]
        if quick:
            defaults = default_parameters(chapter)
            changed = sorted(k for k in set(defaults) | set(quick[0]["parameters"])
                             if defaults.get(k) != quick[0]["parameters"].get(k))
            if changed:
                problems.append(f"{chapter.name}: its quick records come from a run with other parameters than the "
                                f"notebook's defaults ({', '.join(changed)}); rebuild the book or rerun the notebook "
                                f"as it is")
                own = [r for r in own if r["profile"] != GUARDED_PROFILE]
        for r in own:
            verdicts.setdefault(chapter.name, {}).setdefault(r["profile"], {})[check_key(r)] = r["verdict"]
    return verdicts, problems


def differences(expected: dict, found: dict, records: list[dict]) -> list[str]:
    """One line per check whose verdict differs, is new, or is missing, with its values."""
    by_key = {(r["chapter"], r["profile"], check_key(r)): r for r in records}
    lines = []
    for chapter in sorted(set(expected) | set(found)):
        for profile in sorted(set(expected.get(chapter, {})) | set(found.get(chapter, {}))):
            want, got = expected.get(chapter, {}).get(profile, {}), found.get(chapter, {}).get(profile, {})
            for key in sorted(set(want) | set(got)):
                if want.get(key) == got.get(key):
                    continue
                r = by_key.get((chapter, profile, key))
                values = (f": {r['statistic']} = {r['estimate']:.4g} [{r['low']:.4g}, {r['high']:.4g}], "
                          f"needs {r['op']} {r['threshold']:.4g}; per run {r['values']}" if r else "")
                lines.append(f"{chapter} {profile} {key}: guarded {want.get(key, '(no such check)')}, "
                             f"this build {got.get(key, '(not decided)')}{values}")
    return lines


def main(argv: list[str]) -> int:
    command, chapters = (argv[0], argv[1:]) if argv else ("show", [])
    records = ledger.load_records(chapters=chapters or None)
    found, problems = guarded(records)
    expected = json.loads(FILE.read_text(encoding="utf-8")) if FILE.is_file() else {}
    shown = {c: v for c, v in expected.items() if not chapters or c in chapters}
    for line in problems + differences(shown, found, records):
        print(line)
    if command == "update":
        if problems:
            print("not updated: fix the problems above first")
            return 1
        updated = {c: v for c, v in expected.items() if chapters and c not in chapters} | found
        FILE.write_text(json.dumps(updated, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {FILE.relative_to(ROOT)}" + (f" (chapters {', '.join(chapters)})" if chapters else ""))
    elif command != "show":
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
