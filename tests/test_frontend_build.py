"""The web UI's front-end islands build from the pinned npm packages into self-contained bundles:
every bundle is there and real, nothing is loaded from a CDN (fonts are inlined), and the pure
parts of the islands hold under node's own test runner: the form island's mapping of server
errors onto form-js fields, the modeler's lint rules (bpmnlint recommended + plugin carepath, run
over the library's pathways) and the modeler / form editor helpers."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

FRONTEND = Path(__file__).resolve().parent.parent / "webui" / "frontend"

# Minimum sizes: far below what the real bundles weigh, far above an empty or broken build.
BUNDLES = {
    "diagram.js": 100_000,   # bpmn-js NavigatedViewer
    "diagram.css": 20_000,   # diagram-js + bpmn-js styles + the inlined bpmn font
    "form.js": 150_000,      # form-js viewer (preact, FEEL, flatpickr, ...)
    "form.css": 20_000,
    "chart.js": 50_000,      # chart.js with bar, line and doughnut
    "chart.css": 50,         # only the island's error message style
    "modeler.js": 1_000_000,     # bpmn-js Modeler, properties panel (CodeMirror, FEEL), bpmnlint, token simulation
    "modeler.css": 100_000,      # diagram-js + bpmn-js + panel + lint + simulation styles, inlined bpmn font
    "form-editor.js": 600_000,   # form-js editor with its own form-js viewer 1.x
    "form-editor.css": 50_000,
}
# Swagger UI's own files, copied as they ship for the API's interactive page (/api/v1/docs).
SWAGGER_UI = {"swagger-ui/swagger-ui-bundle.js": 1_000_000, "swagger-ui/swagger-ui.css": 100_000}
# The DOM contract each island mounts on; it must survive minification as a literal.
SELECTORS = {"diagram.js": ".cp-diagram", "form.js": ".cp-form", "chart.js": "canvas.cp-chart",
             "modeler.js": "div.cp-modeler", "form-editor.js": "div.cp-form-editor"}
# Further literals of the editors' contracts (data attributes the browser tests wait on, lint plugin).
CONTRACT = {
    "modeler.js": [r"dataset\.checks\s*=", r"dataset\.linted\s*=", r"dataset\.problemCount\s*=",
                   r"dataset\.dirty\s*=", r"dataset\.revision\s*=", r"X-Revision", r"X-CSRFToken",
                   r"bpmnlint-plugin-carepath", r"cp-problem-error", r"cp-problem-warn", r"cp-deploy-comment"],
    "form-editor.js": [r"dataset\.dirty\s*=", r"dataset\.revision\s*=", r"X-Revision", r"X-CSRFToken",
                       r"cp-problems"],
}

CDN_HOST = re.compile(r"(^|\.)(unpkg\.com|jsdelivr\.net|cdnjs\.cloudflare\.com|googleapis\.com|gstatic\.com|"
                      r"bootstrapcdn\.com|jquery\.com|fontawesome\.com|bootcdn\.net|staticfile\.org|"
                      r"staticfile\.net|bytecdntp\.com|cdn\.[a-z0-9.-]+|[a-z0-9-]*cdn[a-z0-9-]*\.[a-z.]+)$")
URL = re.compile(r"https?://[^\s\"'()<>\\`]+")
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.S)


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=FRONTEND, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not installed: the web UI's front-end needs Node 20 (see README)")
    return path


@pytest.fixture(scope="module")
def installed(node) -> None:
    """node_modules as package-lock.json pins it (`npm ci` when missing or older than the lock)."""
    marker = FRONTEND / "node_modules" / ".package-lock.json"
    lock = FRONTEND / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: the web UI's front-end needs Node 20 with npm")
        done = _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=300)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def outdir(node, installed, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = _run([node, "build.mjs", "--outdir", str(out)], timeout=120)
    assert done.returncode == 0, f"build failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_every_bundle_is_built_and_mounts_its_islands(outdir):
    for name, minimum in BUNDLES.items():
        path = outdir / name
        assert path.exists(), f"{name} was not built; the out dir holds {sorted(p.name for p in outdir.iterdir())}"
        size = path.stat().st_size
        assert size >= minimum, f"{name} is {size} bytes, expected at least {minimum}"
    for name, selector in SELECTORS.items():
        text = (outdir / name).read_text(encoding="utf-8")
        assert selector in text, f"{name} does not look for {selector}"
        assert re.search(r'dataset\.ready\s*=\s*"true"', text), f"{name} never sets data-ready"
        assert re.search(r"dataset\.error\s*=", text), f"{name} never sets data-error"
    for name, patterns in CONTRACT.items():
        text = (outdir / name).read_text(encoding="utf-8")
        missing = [p for p in patterns if not re.search(p, text)]
        assert not missing, f"{name} lacks {missing}"


def _files(outdir: Path) -> list[Path]:
    return sorted(p for p in outdir.rglob("*") if p.is_file())


def test_build_honours_outdir_and_writes_nothing_else(outdir):
    built = {p.relative_to(outdir).as_posix() for p in _files(outdir)}
    expected = set(BUNDLES) | set(SWAGGER_UI)
    assert built == expected, f"out dir differs: extra {sorted(built - expected)}, missing {sorted(expected - built)}"
    for name, minimum in SWAGGER_UI.items():
        size = (outdir / name).stat().st_size
        assert size >= minimum, f"{name} is {size} bytes, expected at least {minimum}"


def test_stylesheets_load_nothing_from_elsewhere(outdir):
    """Every url() in the CSS is inline (data:) or empty (the .eot font): no font files, no CDN."""
    for path in outdir.rglob("*.css"):
        text = path.read_text(encoding="utf-8")
        assert "@import" not in text, f"{path.name} imports another stylesheet"
        targets = [m.group(2).strip() for m in CSS_URL.finditer(text)]
        offenders = [t[:80] for t in targets if t and not t.startswith("data:") and not t.startswith("#")]
        assert not offenders, f"{path.name} loads {offenders}"
    for name in ("diagram.css", "modeler.css"):
        fonts = (outdir / name).read_text(encoding="utf-8")
        assert "@font-face" in fonts and "format(\"woff\")" in fonts.replace("'", '"'), f"the bpmn font is not inlined in {name}"
        assert "url(data:" in fonts or "url('data:" in fonts or 'url("data:' in fonts


# Markup comments carry license notices (the Font Awesome icons of the token simulation say where
# they come from); a URL there is never fetched, every other occurrence counts.
MARKUP_COMMENT = re.compile(r"<!--.*?-->", re.S)


def cdn_references(text: str) -> set[str]:
    found = set()
    for url in URL.findall(MARKUP_COMMENT.sub("", text)):
        host = (urlsplit(url).hostname or "").lower()
        if CDN_HOST.search(host):
            found.add(url[:80])
    return found


def test_no_bundle_references_a_cdn(outdir):
    found = {}
    for path in _files(outdir):
        text = path.read_text(encoding="utf-8")
        for url in cdn_references(text):
            found.setdefault(path.relative_to(outdir).as_posix(), set()).add(url)
    assert not found, f"bundles reference a CDN: {found}"


def test_cdn_check_would_catch_one():
    """The CDN pattern itself: it must flag the usual hosts and leave XML namespaces alone."""
    for url in ("https://unpkg.com/bpmn-js@18/dist/assets/bpmn-js.css",
                "https://cdn.jsdelivr.net/npm/chart.js", "https://fonts.googleapis.com/css?family=x",
                "https://cdn.bootcdn.net/ajax/libs/x.js", "https://static.somecdn.com/x.woff"):
        assert CDN_HOST.search(urlsplit(url).hostname), url
    for url in ("http://www.w3.org/2000/svg", "http://www.omg.org/spec/BPMN/20100524/MODEL", "https://bpmn.io"):
        assert not CDN_HOST.search(urlsplit(url).hostname), url
    icon = '<svg><!-- Font Awesome Free by @fontawesome - https://fontawesome.com License --><path d="M0"/></svg>'
    assert cdn_references(icon) == set(), "a license notice in a markup comment loads nothing"
    assert cdn_references('<img src="https://use.fontawesome.com/x.svg"><!-- x -->') == {"https://use.fontawesome.com/x.svg"}
    assert cdn_references('<!-- a --> url("https://cdn.jsdelivr.net/x.woff") <!-- b -->') == {"https://cdn.jsdelivr.net/x.woff"}


def _node_tests(node, path: str) -> str:
    done = _run([node, "--test", path], timeout=120)
    assert done.returncode == 0, f"node --test {path} failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"^# pass [1-9]", done.stdout, re.M), done.stdout
    assert re.search(r"^# fail 0$", done.stdout, re.M), done.stdout
    return done.stdout


def test_form_error_mapping(node):
    _node_tests(node, "test/form-errors.test.mjs")


def test_modeler_lint_rules_and_library(node, installed):
    """Each carepath rule fails its bad fixture and passes its good one; the ten library pathways
    lint without errors; an unknown role is reported by name."""
    out = _node_tests(node, "test/lint-rules.test.mjs")
    assert "ok " in out and "every library pathway lints without errors" in out, out
    assert not re.search(r"^not ok", out, re.M), out


def test_modeler_and_form_editor_helpers(node, installed):
    _node_tests(node, "test/modeler-helpers.test.mjs")


def test_npm_test_runs_every_node_test():
    """`npm test` (the README's command) names every test file there is."""
    script = json.loads((FRONTEND / "package.json").read_text(encoding="utf-8"))["scripts"]["test"]
    files = sorted(p.relative_to(FRONTEND).as_posix() for p in (FRONTEND / "test").glob("*.test.mjs"))
    assert files and all(f in script for f in files), f"npm test runs {script!r}, the tests are {files}"
