"""The Chinese edition (中文版): translation catalogues, drift check and
generated Chinese sources.

One source of code, two languages. The unit of translation is a markdown cell
of a chapter notebook (keyed by the cell's id), a figure's caption or alt text
(prose kept in a code cell's metadata; keyed "id:caption", "id:alt"), a
section of a markdown page (keyed by its heading) or a part caption of the
toc. Each unit is one entry of a gettext catalogue,
``locales/zh_CN/<page>.po``: ``msgctxt`` is the key, ``msgid`` the English
text it translates, ``msgstr`` the Chinese. So a translation records exactly
which English it translates, and standard tools (poedit, Weblate) can edit it.

    python tools/i18n.py update          # sync catalogues with the English;
                                         # a changed cell becomes fuzzy, with
                                         # the old English kept as #| msgid
    python tools/i18n.py check           # every problem, naming page and cell
    python tools/i18n.py export PAGE     # a plain work file: English + Chinese
    python tools/i18n.py import FILE     # ... read back into the catalogue
    python tools/i18n.py notebooks       # write zh/ (Chinese notebooks for
                                         # Colab/Binder, zh/README.md)
    python tools/i18n.py sources OUT [--outputs DIR]
                                         # the Chinese book's source tree; with
                                         # --outputs, code outputs are copied
                                         # from the English execution

Code is never translated: a Chinese notebook is the English notebook with
its markdown cells and figure texts replaced, so its code (and the execution
that made its outputs) is the English one.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import polib
import yaml
from check_html import toc_pages as toc_stems

ROOT = Path(__file__).resolve().parents[1]
LOCALE = "zh_CN"
CATALOGUES = ROOT / "locales" / LOCALE
ZH = ROOT / "zh"
# pages outside the toc whose sections are translated: the README's section
# for readers (the rest of the README is for contributors)
EXTRA = {"README.md": ["## Reading the book"]}
TOC = "_toc.yml"
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Unit:
    page: str  # path of the English source, relative to the repository
    key: str  # cell id, or a section's heading line
    label: str  # for messages: "markdown cell 12 (id 'a1')"
    text: str  # the English


def toc_pages() -> list[str]:
    """The book's pages in reading order, as paths with their suffix."""
    out = []
    for stem in toc_stems(ROOT):
        for suffix in (".ipynb", ".md"):
            if (ROOT / (stem + suffix)).exists():
                out.append(stem + suffix)
                break
        else:
            raise FileNotFoundError(f"{TOC} names {stem!r}: no such page")
    return out


def pages() -> list[str]:
    return [TOC, *toc_pages(), *EXTRA]


def _source(cell) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def markdown_sections(text: str) -> list[tuple[str, str]]:
    """Split markdown at its headings (outside code fences):
    (heading line, section text) pairs; text before the first heading is
    keyed "(top)"."""
    sections, key, lines, fence = [], "(top)", [], None
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        marker = re.match(r"(`{3,}|:{3,}|~{3,})", stripped)
        if marker:
            if fence is None:
                fence = marker.group(1)[0]
            elif (
                stripped.startswith(fence * 3)
                and not stripped[3:].strip(fence).strip()
            ):
                fence = None
        if fence is None and re.match(r"#{1,6} ", line):
            if "".join(lines).strip():
                sections.append((key, "".join(lines)))
            key, lines = line.strip(), []
        lines.append(line)
    if "".join(lines).strip():
        sections.append((key, "".join(lines)))
    return sections


def units(page: str) -> list[Unit]:
    path = ROOT / page
    if page == TOC:
        toc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [
            Unit(
                page,
                f"caption: {p['caption']}",
                f"caption {p['caption']!r}",
                p["caption"],
            )
            for p in toc.get("parts", [])
            if "caption" in p
        ]
    if page.endswith(".ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        found = []
        for i, cell in enumerate(nb["cells"]):
            where = f"cell {i} (id {cell['id']!r})"
            if cell["cell_type"] == "markdown":
                found.append(
                    Unit(page, cell["id"], f"markdown {where}", _source(cell))
                )
                continue
            for field, path_ in FIGURE_TEXT.items():
                text = _get(cell["metadata"], path_)
                if text:
                    key = f"{cell['id']}:{field}"
                    label = f"figure {field} of code {where}"
                    found.append(Unit(page, key, label, text))
        return found
    wanted = EXTRA.get(page)
    found = [
        Unit(page, key, f"section {key!r}", text)
        for key, text in markdown_sections(path.read_text(encoding="utf-8"))
        if wanted is None or key in wanted
    ]
    keys = [u.key for u in found]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"{page}: headings must be unique, repeated: {dupes}")
    return found


# The prose that code cells carry in their metadata: a figure's caption and
# its alt text (read aloud by screen readers). Both are translated; the code,
# the rest of the metadata and the outputs are the English cell's.
FIGURE_TEXT = {
    "caption": ("mystnb", "figure", "caption"),
    "alt": ("mystnb", "image", "alt"),
}


def _get(meta: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(meta, dict) or key not in meta:
            return None
        meta = meta[key]
    return meta


def without_figure_text(meta: dict) -> dict:
    """A code cell's metadata minus the translated figure texts (what the
    Chinese notebook must keep identical)."""
    meta = copy.deepcopy(meta)
    for path in FIGURE_TEXT.values():
        holder = _get(meta, path[:-1])
        if isinstance(holder, dict):
            holder.pop(path[-1], None)
    return meta


def catalogue_path(page: str) -> Path:
    return CATALOGUES / Path(page).with_suffix(".po")


def load(page: str) -> polib.POFile:
    path = catalogue_path(page)
    if path.exists():
        return polib.pofile(str(path), wrapwidth=0)
    return empty_catalogue()


def empty_catalogue() -> polib.POFile:
    po = polib.POFile(wrapwidth=0)
    po.metadata = {
        "Project-Id-Version": "Self-Attention, Runnable",
        "Language": LOCALE,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
    }
    return po


def save(page: str, po: polib.POFile) -> None:
    path = catalogue_path(page)
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))


def update(page: str) -> polib.POFile:
    """Bring a catalogue in line with the English: new units come in
    untranslated, a changed unit keeps its Chinese but is marked fuzzy with
    the old English as ``previous_msgid``, gone units are dropped (a unit
    whose cell id changed but whose text did not keeps its translation)."""
    old = load(page)
    by_key = {e.msgctxt: e for e in old}
    by_text = {e.msgid: e for e in old if e.msgstr}
    new = empty_catalogue()
    for unit in units(page):
        entry = by_key.get(unit.key)
        if entry is None and unit.text in by_text:
            entry = copy.copy(by_text[unit.text])
            entry.msgctxt = unit.key
        if entry is None:
            entry = polib.POEntry(msgctxt=unit.key, msgid=unit.text, msgstr="")
        elif entry.msgid != unit.text and not entry.msgstr:
            entry.msgid = unit.text
        elif entry.msgid != unit.text:
            if "fuzzy" not in entry.flags:
                entry.previous_msgid = entry.msgid
                entry.flags.append("fuzzy")
            entry.msgid = unit.text
        if not needs_words(unit.text):
            # directive markers only: nothing to translate
            entry.msgstr, entry.flags = unit.text, []
            entry.previous_msgid = None
        entry.occurrences = []
        new.append(entry)
    save(page, new)
    return new


# --- checks -----------------------------------------------------------------

MATH = re.compile(
    r"\$\$.+?\$\$|\$(?:[^$\\]|\\.)+?\$|\\begin\{(\w+\*?)\}.+?\\end\{\1\}",
    re.S,
)
FENCE_LINE = re.compile(r"^\s*(?:`{3,}|~{3,}).*$", re.M)
# inline code may wrap onto the next line (but not across a blank line)
CODE = re.compile(r"``[^`]+``|`(?:[^`\n]|\n(?!\s*\n))+`")
# a fenced block of code (not a directive such as ```{exercise})
CODE_BLOCK = re.compile(
    r"^[ \t]*(`{3,}|~{3,})(?![^\n]*\{)[^\n]*\n.*?^[ \t]*\1[ \t]*$",
    re.S | re.M,
)
LABEL = re.compile(r"^\s*\(([\w:.-]+)\)=\s*$", re.M)
ROLE = re.compile(
    r"\{(?:ref|numref|doc|cite|cite:p|cite:t|eq|term)\}`([^`]*)`"
)
DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{([\w-]+)\}", re.M)
OPTION = re.compile(
    r"^\s*:(label|class|name|nonumber|dropdown|hidden):.*$", re.M
)


def _targets(text: str) -> list[str]:
    # a role's target is what follows "<" or the whole content
    out = []
    for content in ROLE.findall(text):
        m = re.search(r"<([^>]+)>\s*$", content)
        out.append(m.group(1) if m else content)
    return sorted(out)


def _strip_roles(text: str) -> str:
    return ROLE.sub("", text)


def structure(text: str) -> dict[str, list[str]]:
    """What a translation must keep exactly: math, inline code, MyST labels,
    cross-reference targets, directives and their options."""
    body = _strip_roles(text)
    math = [" ".join(m.group(0).split()) for m in MATH.finditer(body)]
    code = CODE.findall(FENCE_LINE.sub("", MATH.sub("", body)))
    return {
        "math": sorted(math),
        "inline code": sorted(" ".join(c.split()) for c in code),
        "labels": sorted(LABEL.findall(text)),
        "reference targets": _targets(text),
        "directives": DIRECTIVE.findall(text),
        "directive options": sorted(o.strip() for o in OPTION.findall(text)),
    }


def needs_words(english: str) -> bool:
    """Whether a unit has prose to translate (not only directive markers,
    math, code or names)."""
    text = re.sub(
        r"^\s*(?:`{3,}|:{3,})(?:\{[\w-]+\}.*)?$", "", english, flags=re.M
    )
    text = OPTION.sub("", prose(text))
    return re.search(r"[A-Za-z]{3,}", text) is not None


def structure_problems(english: str, chinese: str) -> list[str]:
    out = []
    en, zh = structure(english), structure(chinese)
    for what in en:
        if en[what] != zh[what]:
            gone = sorted(set(en[what]) - set(zh[what]))
            extra = sorted(set(zh[what]) - set(en[what]))
            detail = []
            if gone:
                detail.append(f"missing {gone[:3]}")
            if extra:
                detail.append(f"not in the English {extra[:3]}")
            if not detail:
                detail.append("in a different order or count")
            out.append(f"{what} differ from the English: " + "; ".join(detail))
    return out


def _first_change(old: str, new: str) -> str:
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), lineterm="", n=0
    ):
        if line.startswith("+") and not line.startswith("+++"):
            return line[1:].strip()[:100]
    return "(whitespace only)"


def problems(page: str) -> list[str]:
    """Every reason the Chinese page is not a translation of today's English
    page; each names the page and the cell or section."""
    path = catalogue_path(page)
    rel = path.relative_to(ROOT)
    if not path.exists():
        return [
            f"{page}: no catalogue {rel}; run: python tools/i18n.py update"
        ]
    po = load(page)
    by_key = {e.msgctxt: e for e in po if not e.obsolete}
    out, seen = [], set()
    for unit in units(page):
        where = f"{page}, {unit.label}"
        entry = by_key.get(unit.key)
        seen.add(unit.key)
        if entry is None:
            out.append(f"{where}: no translation in {rel} (run update)")
            continue
        if entry.msgid != unit.text:
            out.append(
                f"{where}: the English changed since it was translated "
                f"(new text: {_first_change(entry.msgid, unit.text)!r}); "
                f"run update, then revise the fuzzy entry in {rel}"
            )
            continue
        if "fuzzy" in entry.flags:
            out.append(
                f"{where}: translation is fuzzy (its English changed); "
                f"revise it and remove the fuzzy flag in {rel}"
            )
            continue
        if not entry.msgstr.strip():
            out.append(f"{where}: untranslated in {rel}")
            continue
        if needs_words(unit.text) and not CJK.search(entry.msgstr):
            out.append(f"{where}: the translation has no Chinese text")
        for problem in structure_problems(unit.text, entry.msgstr):
            out.append(f"{where}: {problem}")
    for key, entry in by_key.items():
        if key not in seen:
            out.append(
                f"{page}: {rel} translates {key!r}, which is no longer on "
                f"the page (stale; run update)"
            )
    return out


# --- terminology: the glossary's Chinese column ------------------------------

GLOSSARY = "glossary.md"


@dataclass(frozen=True)
class Term:
    english: str
    chinese: str
    variants: tuple[str, ...]


def _split(cell: str, seps: str) -> list[str]:
    return [t.strip() for t in re.split(seps, cell) if t.strip()]


def terms() -> list[Term]:
    """The rows of the glossary's term table, one Term per concept: a row
    "a; b / c | 甲；乙 / 丙 | variants | meaning" gives three (its variants
    belong to the whole row and are banned from the Chinese pages)."""
    text = (ROOT / GLOSSARY).read_text(encoding="utf-8")
    table = text[text.index("| English | 中文 |") :]
    out = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        english, chinese, variants = (
            c.strip() for c in line.strip("|").split("|")[:3]
        )
        en, zh = _split(english, r"[;/]"), _split(chinese, r"[；/]")
        if len(en) != len(zh):
            raise ValueError(
                f"{GLOSSARY}: row {english!r} has {len(en)} English and "
                f"{len(zh)} Chinese terms; list them in the same order"
            )
        banned = tuple(_split(variants, r"[；;]"))
        out += [Term(e, z, banned) for e, z in zip(en, zh)]
    return out


def prose(text: str) -> str:
    """Text without math, inline code, code fences and role targets."""
    text = OPTION.sub(" ", CODE_BLOCK.sub(" ", text))
    text = _strip_roles(text)
    return CODE.sub(" ", MATH.sub(" ", text))


def _english_pattern(term: str) -> re.Pattern:
    words = r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", term))
    flags = 0 if re.search(r"[A-Z]", term[1:]) else re.I
    return re.compile(rf"(?<![\w-]){words}(?:s|es)?(?![\w-])", flags)


def terminology_problems(page: str) -> list[str]:
    """On a translated page: every glossary term the English page uses
    appears in its Chinese form, and no banned variant appears."""
    if page in (GLOSSARY, TOC) or page in EXTRA:
        return []
    zh = translations(page)
    us = [u for u in units(page) if u.key in zh]
    chinese_units = [prose(zh[u.key]) for u in us]
    english = "\n".join(prose(u.text) for u in us)
    chinese = "\n".join(chinese_units)
    glossary = terms()
    out = []
    for term in glossary:
        if _english_pattern(term.english).search(english) and (
            term.chinese not in chinese
        ):
            out.append(
                f"{page}: the English uses {term.english!r}; the glossary's "
                f"Chinese term {term.chinese!r} does not appear"
            )
    for variant in sorted({v for t in glossary for v in t.variants}):
        for u, text in zip(us, chinese_units):
            if variant in text:
                out.append(
                    f"{page}, {u.label}: uses {variant!r}, a variant the "
                    f"glossary rules out (see {GLOSSARY})"
                )
    return out


# --- work files for translators ---------------------------------------

SEP = "%%%%"


def export(page: str) -> str:
    po = load(page)
    by_key = {e.msgctxt: e for e in po}
    parts = [f"{SEP} page {page}\n"]
    for unit in units(page):
        entry = by_key.get(unit.key)
        zh = entry.msgstr if entry is not None else ""
        parts.append(
            f"{SEP} unit {unit.key}\n{SEP} en\n{unit.text.rstrip()}\n"
            f"{SEP} zh\n{zh.rstrip()}\n"
        )
    parts.append(f"{SEP} end\n")
    return "".join(parts)


def import_(text: str) -> tuple[str, int]:
    m = re.match(rf"{SEP} page (\S+)\n", text)
    if not m:
        raise ValueError(f"a work file starts with '{SEP} page PAGE'")
    page = m.group(1)
    blocks = re.findall(
        rf"^{SEP} unit (.+?)\n{SEP} en\n(.*?)^{SEP} zh\n(.*?)(?=^{SEP} )",
        text,
        re.S | re.M,
    )
    po = update(page)
    by_key = {e.msgctxt: e for e in po}
    count = 0
    for key, english, chinese in blocks:
        entry = by_key.get(key)
        if entry is None:
            raise ValueError(f"{page}: no unit {key!r} (stale work file?)")
        if english.rstrip() != entry.msgid.rstrip():
            raise ValueError(f"{page}, unit {key!r}: the English changed")
        chinese = chinese.rstrip("\n")
        if not chinese.strip():
            continue
        # keep the English's trailing newline convention
        tail = entry.msgid[len(entry.msgid.rstrip("\n")) :]
        entry.msgstr = chinese + tail
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
        entry.previous_msgid = None
        count += 1
    save(page, po)
    return page, count


# --- generated Chinese sources ----------------------------------------


def translations(page: str) -> dict[str, str]:
    """key -> Chinese, for the entries that are current (others fall back to
    the English, which the check reports)."""
    return {
        e.msgctxt: e.msgstr
        for e in load(page)
        if e.msgstr and "fuzzy" not in e.flags and not e.obsolete
    }


def chinese_notebook(page: str, outputs: Path | None = None) -> dict:
    nb = json.loads((ROOT / page).read_text(encoding="utf-8"))
    zh = translations(page)
    executed = None
    if outputs is not None:
        executed = json.loads((outputs / page).read_text(encoding="utf-8"))
        executed = {c.get("id"): c for c in executed["cells"]}
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = zh.get(cell["id"], cell["source"])
            continue
        for field, path in FIGURE_TEXT.items():
            text = zh.get(f"{cell['id']}:{field}")
            if text and _get(cell["metadata"], path):
                _get(cell["metadata"], path[:-1])[path[-1]] = text
        if executed is not None:
            run = executed.get(cell["id"])
            if run is None or _source(run) != _source(cell):
                raise ValueError(
                    f"{page}: code cell {cell['id']!r} differs from the "
                    f"executed copy in {outputs}; run make book first"
                )
            cell["outputs"] = run.get("outputs", [])
            cell["execution_count"] = run.get("execution_count")
    # split sources into lines as nbformat stores them
    for cell in nb["cells"]:
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    return nb


def chinese_markdown(page: str) -> str:
    zh = translations(page)
    text = (ROOT / page).read_text(encoding="utf-8")
    sections = markdown_sections(text)
    wanted = EXTRA.get(page)
    return "".join(
        zh.get(key, body)
        for key, body in sections
        if wanted is None or key in wanted
    )


def dump_notebook(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def chinese_toc() -> str:
    zh = translations(TOC)
    text = (ROOT / TOC).read_text(encoding="utf-8")
    for unit in units(TOC):
        if unit.key in zh:
            text = text.replace(
                f'caption: "{unit.text}"', f'caption: "{zh[unit.key]}"'
            )
    return text


def committed_files() -> dict[Path, str]:
    """What zh/ holds: the Chinese notebooks (for the Colab and Binder
    buttons of the Chinese pages) and the README's reading section."""
    files = {}
    for page in toc_pages():
        if page.endswith(".ipynb"):
            files[ZH / page] = dump_notebook(chinese_notebook(page))
    files[ZH / "README.md"] = (
        f"# {TITLE} —— 中文版\n\n"
        "English: [README.md](../README.md)\n\n"
        + chinese_markdown("README.md")
    )
    return files


def write_committed() -> list[Path]:
    changed = []
    for path, text in committed_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


TITLE = "可运行的自注意力"  # the book's title in the Chinese edition


def write_sources(out: Path, outputs: Path | None, config: Path) -> None:
    """The Chinese book's source tree under ``out``: the toc and pages,
    translated, and a config made from ``config`` (the English build's)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / TOC).write_text(chinese_toc(), encoding="utf-8")
    for page in toc_pages():
        target = out / page
        target.parent.mkdir(parents=True, exist_ok=True)
        if page.endswith(".ipynb"):
            nb = chinese_notebook(page, outputs)
            target.write_text(dump_notebook(nb), encoding="utf-8")
        else:
            target.write_text(chinese_markdown(page), encoding="utf-8")
    shutil.copy(ROOT / "references.bib", out / "references.bib")
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    cfg["title"] = TITLE
    cfg["execute"]["execute_notebooks"] = "off"
    cfg["repository"]["path_to_book"] = "zh"
    sphinx = cfg.setdefault("sphinx", {}).setdefault("config", {})
    sphinx["language"] = LOCALE
    sphinx["html_static_path"] = [
        str((ROOT / p).resolve()) for p in sphinx["html_static_path"]
    ]
    # paths in the config are relative to the repository, not to ``out``
    ext = cfg["sphinx"].get("local_extensions", {})
    for name, where in ext.items():
        ext[name] = str((ROOT / where).resolve())
    sphinx.setdefault("html_context", {})["book_edition"] = "zh"
    (out / "_config.yml").write_text(
        yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("update")
    chk = sub.add_parser("check")
    chk.add_argument("pages", nargs="*")
    exp = sub.add_parser("export")
    exp.add_argument("page")
    imp = sub.add_parser("import")
    imp.add_argument("file", type=Path)
    sub.add_parser("notebooks")
    src = sub.add_parser("sources")
    src.add_argument("out", type=Path)
    src.add_argument("--outputs", type=Path)
    src.add_argument("--config", type=Path, default=ROOT / "_config.yml")
    args = parser.parse_args(argv)
    if args.cmd == "update":
        for page in pages():
            update(page)
        print(f"updated {len(pages())} catalogues under {CATALOGUES}")
    elif args.cmd == "check":
        found = [
            p
            for page in (args.pages or pages())
            for p in problems(page) + terminology_problems(page)
        ]
        print("\n".join(found) or "every unit is translated and current")
        return 1 if found else 0
    elif args.cmd == "export":
        sys.stdout.write(export(args.page))
    elif args.cmd == "import":
        page, n = import_(args.file.read_text(encoding="utf-8"))
        print(f"{page}: {n} units imported")
    elif args.cmd == "notebooks":
        for path in write_committed():
            print("wrote", path.relative_to(ROOT))
    elif args.cmd == "sources":
        write_sources(args.out, args.outputs, args.config)
        print("wrote the Chinese sources to", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
