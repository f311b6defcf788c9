"""The web UI in English: every message written in Chinese in webui/ has an English translation
in webui/translations/en (placeholders kept, nothing obsolete), and after /lang/en the pages a
frontline worker and a supervisor use — inbox, task page, escalation queue, indicators,
notifications — show no Chinese except content: the names of tasks, pathways, org units, roles
and people, and the text the engine writes itself (notifications, indicator definitions).
Chinese stays the default."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from html.parser import HTMLParser

from babel.messages.pofile import read_po

from engine.directory import parse_directory
from engine.indicators import indicators
from engine.notify import list_for_user
from engine.runtime import services
from webui.i18n_catalog import catalogue_msgids, extract, indirect_msgids, msgids

from conftest import DEMO_DIRECTORY, ROOT, SHANGHAI
from web import WebClient

PO_FILE = ROOT / "webui" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
CJK = re.compile(r"[\u4e00-\u9fff]")
# Every %-conversion Python would apply (%(n)d, %s, %%, and a bare % too).
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]|%")
# The switch back to Chinese names the language in its own script, as language menus do.
LANGUAGE_SWITCH = "中文"

COUNTY = "510781"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def english_catalogue():
    with PO_FILE.open("rb") as po_file:
        return read_po(po_file, locale="en")


def translations() -> dict[str, str]:
    """msgid → English, for the entries the compiled catalogue will serve (fuzzy ones are not)."""
    return {message.id: message.string for message in english_catalogue()
            if message.id and not message.fuzzy}


# --- the catalogue ----------------------------------------------------------------------------------

def test_extraction_finds_messages_in_modules_templates_and_indirect_labels():
    found = extract()
    files = {name for places in found.values() for name, _ in places}
    assert "i18n.py" in files and "templates/base.html" in files and "templates/escalations/queue.html" in files
    assert {"我的待办", "还剩 %(n)d 个工作日", "督办 %(n)d 级", "用户名或密码错误。"} <= msgids()
    assert {"卫生健康", "民政", "公安"} <= indirect_msgids()
    assert catalogue_msgids() == msgids() | indirect_msgids()


def test_every_msgid_has_an_english_translation():
    english = translations()
    missing = sorted(msgid for msgid in catalogue_msgids() if not english.get(msgid, "").strip())
    still_chinese = sorted(f"{msgid} → {english[msgid]}" for msgid in catalogue_msgids()
                           if CJK.search(english.get(msgid, "")))
    assert not missing, (f"{len(missing)} msgid(s) without an English translation in {PO_FILE.name}:\n"
                         + "\n".join(missing))
    assert not still_chinese, "translations still in Chinese:\n" + "\n".join(still_chinese)


def test_the_catalogue_has_no_obsolete_entries():
    catalogue = english_catalogue()
    wanted = catalogue_msgids()
    obsolete = sorted(message.id for message in catalogue if message.id and message.id not in wanted)
    assert not obsolete, "entries for messages no longer in webui/:\n" + "\n".join(obsolete)
    assert not catalogue.obsolete, f"#~ entries left in {PO_FILE.name}: {sorted(catalogue.obsolete)}"
    fuzzy = sorted(message.id for message in catalogue if message.id and message.fuzzy)
    assert not fuzzy, f"fuzzy entries are not served: {fuzzy}"


def test_every_translation_keeps_the_placeholders_of_its_msgid():
    wrong = [f"{msgid!r} → {text!r}" for msgid, text in translations().items()
             if Counter(PLACEHOLDER.findall(msgid)) != Counter(PLACEHOLDER.findall(text))]
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_the_extract_script_prints_the_msgids_without_the_flask_app():
    # Flask, Flask-Babel and the engine made unimportable: the script needs Babel and Jinja2 only.
    blocked = ("import runpy, sys\n"
               "for name in ('flask', 'flask_babel', 'engine', 'webui'): sys.modules[name] = None\n"
               "sys.argv = ['i18n_extract.py']\n"
               f"runpy.run_path({str(ROOT / 'scripts' / 'i18n_extract.py')!r}, run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60,
                            cwd=str(ROOT / "tests"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == sorted(msgids())


# --- the pages --------------------------------------------------------------------------------------

class VisibleText(HTMLParser):
    """The text a user reads in <title>, the header and <main>: text nodes, plus the title,
    placeholder, aria-label and alt attributes; scripts and styles left out."""

    READ = {"title", "header", "main"}
    SKIP = {"script", "style"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: list[str] = []

    def _reading(self) -> bool:
        return bool(self.READ & set(self.stack)) and not (self.SKIP & set(self.stack))

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if self._reading():
            self.parts += [value for name, value in attrs if name in self.ATTRIBUTES and value]

    def handle_startendtag(self, tag, attrs):
        if self._reading():
            self.parts += [value for name, value in attrs if name in self.ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if self._reading():
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return re.sub(r"\s+", " ", " ".join(parser.parts)).strip()


def chinese_left(text: str, allowed: set[str]) -> list[str]:
    """The runs of text holding Chinese once the allowed strings (longest first) are taken out."""
    for known in sorted(allowed, key=len, reverse=True):
        text = text.replace(known, " ")
    return re.findall(r"\S*[\u4e00-\u9fff]+\S*", text)


def content_strings(ctx, deployed, person) -> set[str]:
    """What pages show as data, in Chinese whatever the language: the directory's org units,
    roles and people, the pathways' and tasks' names, the person registered and their gender."""
    directory = parse_directory(DEMO_DIRECTORY.read_text(encoding="utf-8"), str(DEMO_DIRECTORY))
    names = {str(role["name"]) for role in directory["roles"]}
    names |= {name for _code, name, *_rest in directory["units"]}
    names |= {str(user.get("name") or user["username"]) for user in directory["users"]}
    names |= {result.name for result in deployed if result.name}
    names |= {task["name"] for task in services.list_tasks(ctx, status="all")}
    names |= {person["name"], person["gender"]}
    return {name for name in names if name}


def engine_text(ctx, usernames: tuple[str, ...]) -> set[str]:
    """Chinese the engine writes itself, outside the web UI's catalogue: the users' notifications
    and the indicator definitions (tooltips on the dashboard)."""
    texts = set()
    with ctx.db.unit_of_work() as session:
        for username in usernames:
            for item in list_for_user(session, username, 100):
                texts |= {item["title"], item["body"]}
    now = nov(12, 9)
    figures = indicators(ctx.at(now), COUNTY, now - timedelta(days=30), now, locale="en")
    texts |= {programme["definition"] for programme in figures["programmes"].values()}
    return {text for text in texts if text}


def in_english(app, username: str) -> WebClient:
    client = WebClient(app)
    client.login(username)
    switched = client.get("/lang/en")
    assert switched.status_code == 302
    return client


def test_the_pages_in_english_show_no_chinese_but_content(overdue):
    app, ctx, plan, deployed, person = overdue
    allowed = (content_strings(ctx, deployed, person) | engine_text(ctx, ("fdoc_zhou", "health_sup_jy"))
               | {LANGUAGE_SWITCH})
    doctor, supervisor = in_english(app, "fdoc_zhou"), in_english(app, "health_sup_jy")
    pages = {
        "inbox": (doctor, "/tasks", ["My tasks", "Remaining", "2 working day(s) overdue", "Escalation Level 2"]),
        "task page": (doctor, f"/tasks/{plan['id']}", ["My tasks", "Role", "Org unit", "Due", "Person"]),
        "notifications": (doctor, "/notifications", ["Notifications"]),
        "escalation queue": (supervisor, "/escalations", ["Escalation queue", "Level 2", "Health", "Escalated at"]),
        "indicators": (supervisor, "/dashboard", ["Indicators", "On-time rate", "Student screening rate"]),
        "supervisor's notifications": (supervisor, "/notifications", ["Notifications", "View task"]),
    }
    leftovers = {}
    for label, (client, url, expected) in pages.items():
        response = client.get(url)
        assert response.status_code == 200, f"{label} ({url}): {response.status_code}"
        text = visible_text(response.get_data(as_text=True))
        absent = [phrase for phrase in expected if phrase not in text]
        assert not absent, f"{label} ({url}) lacks {absent}; visible text: {text}"
        left = chinese_left(text, allowed)
        if left:
            leftovers[f"{label} ({url})"] = left
    # A message flashed by a handler, after a redirect: the task page once the doctor claims it.
    claimed = doctor.post(f"/tasks/{plan['id']}", {"action": "claim"}, follow_redirects=True)
    text = visible_text(claimed.get_data(as_text=True))
    assert "Claimed: this task is now in your tasks only." in text and "Release" in text, text
    if chinese_left(text, allowed):
        leftovers["task page after claiming"] = chinese_left(text, allowed)
    assert not leftovers, "Chinese left on English pages (not content):\n" + "\n".join(
        f"  {page}: {runs}" for page, runs in leftovers.items())


def test_chinese_is_the_default_and_the_switch_goes_both_ways(overdue):
    app, ctx, plan, deployed, person = overdue
    doctor = WebClient(app)
    doctor.login("fdoc_zhou")
    chinese = visible_text(doctor.get("/tasks").get_data(as_text=True))
    assert "我的待办" in chinese and "已超期 2 个工作日" in chinese and "My tasks" not in chinese
    doctor.get("/lang/en")
    english = visible_text(doctor.get("/tasks").get_data(as_text=True))
    assert "My tasks" in english and "我的待办" not in english
    doctor.get("/lang/zh")
    assert "我的待办" in visible_text(doctor.get("/tasks").get_data(as_text=True))
