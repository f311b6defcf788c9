"""`carepath run` (what `make run` calls) on an empty database: it loads the demo, serves the web
UI on the given port and sweeps in-process; a demo user signs in and sees their inbox."""
from __future__ import annotations

import http.cookiejar
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from engine.devservers import free_port

from conftest import ROOT


def test_run_serves_the_ui_with_demo_data_on_an_empty_database(tmp_path):
    port = free_port()
    exe = str(Path(sys.executable).with_name("carepath"))
    env = {"CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'carepath.sqlite'}", "PATH": "/usr/bin:/bin",
           "CAREPATH_NOW": "2026-11-20T10:00:00+08:00"}
    log = (tmp_path / "run.log").open("w")
    server = subprocess.Popen([exe, "run", "--port", str(port), "--interval", "5"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                login = opener.open(f"{base}/login", timeout=5).read().decode()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "run.log").read_text()
                assert time.monotonic() < deadline, "carepath run did not answer within 180 s"
                time.sleep(0.5)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        form = urllib.parse.urlencode({"csrf_token": token, "username": "mhdoc_qian",
                                       "password": "carepath-demo"}).encode()
        inbox = opener.open(f"{base}/login", data=form, timeout=30).read().decode()
        assert "我的待办" in inbox and "首次危险性评估与病情评估" in inbox and "已超期" in inbox
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "演示数据已载入" in output and f"http://127.0.0.1:{port}/" in output
