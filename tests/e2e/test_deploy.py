"""The documented deployment, for real (issue 31, 4): the systemd units of docs/deploy verify with
systemd-analyze, and Debian's nginx, over TLS with a certificate, in front of the real dashboard (under /v2i/,
WebSockets through the proxy) and the real API (under /v2i/api/): Chromium opens /v2i/, uploads a recording,
generates, and sees the image; the API answers through the proxy; the links shown use V2I_PUBLIC_URL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import CHROMIUM_FLAGS, ROOT, SCREENSHOTS, free_port, running_dashboard
from playwright.sync_api import expect

from core import Person, Store, tokens
from core.generation.synth import recording
from test_browser import set_steps
from waiting import JOB_MS, settle

DEPLOY = ROOT / "docs" / "deploy"


def render(template: str, **values) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", str(value))
    return template


@pytest.mark.skipif(shutil.which("systemd-analyze") is None and not os.environ.get("CI"),
                    reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["v2i-dashboard.service", "v2i-api.service", "v2i-worker.service"])
def test_the_systemd_units_verify(unit, tmp_path):
    target = tmp_path / unit
    target.write_text(render((DEPLOY / unit).read_text(), ROOT=ROOT, USER="root"))
    done = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "@" not in target.read_text().split("ExecStart=")[1].split("\n")[0]


def certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def proxied(tiny_models_dir, tmp_path_factory):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed: .ci/run installs it")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    folder = tmp_path_factory.mktemp("deploy")
    dashboard_port, api_port, https_port = free_port(), free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}/v2i"
    cert, key = certificate(folder)
    site = render((DEPLOY / "nginx-v2i.conf").read_text(), LISTEN=f"127.0.0.1:{https_port} ssl",
                  SERVER_NAME="127.0.0.1", CERT=cert, KEY=key, MAX_UPLOAD_MB=200, API_PORT=api_port,
                  DASHBOARD_PORT=dashboard_port)
    (folder / "logs").mkdir()
    (folder / "nginx.conf").write_text(
        f"user root;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/logs/error.log;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n access_log {folder}/logs/access.log;\n"
        f" client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
        f" fastcgi_temp_path {folder}/fcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;\n"
        f"{site}\n}}\n")
    proxy = subprocess.Popen([nginx, "-c", str(folder / "nginx.conf"), "-p", str(folder), "-g", "daemon off;"],
                             stderr=subprocess.PIPE)
    env = {"V2I_PUBLIC_URL": public}
    try:  # nginx stops however the rest ends (a dashboard that fails to start included)
        with running_dashboard(tiny_models_dir, folder, "--server.baseUrlPath", "v2i", port=dashboard_port,
                               env=env, base="/v2i") as server:
            api_env = {**os.environ, "V2I_PROFILE": "tiny", "V2I_DATA_DIR": str(server.data_dir),
                       "V2I_TINY_MODELS_DIR": str(tiny_models_dir), "PYTHONPATH": str(ROOT), **env}
            api = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(api_port)], cwd=ROOT,
                                   env=api_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(150):
                    try:
                        if httpx.get(f"{public}/api/v1/health", verify=False, timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.2)
                else:
                    pytest.fail("the API did not answer through nginx: " +
                                (folder / "logs" / "error.log").read_text())
                yield public, server
            finally:
                api.terminate()
                api.wait(timeout=15)
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)


def test_through_nginx_a_recording_becomes_an_image_and_the_api_answers(browser, proxied, tmp_path):
    public, server = proxied
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, ignore_https_errors=True)
    page = context.new_page()
    page.goto(f"{public}/generate")
    settle(page)
    wav = tmp_path / "memo.wav"
    wav.write_bytes(recording("wav", seconds=1.5))
    page.locator('input[type="file"]').first.set_input_files(wav)
    settle(page)
    set_steps(page, 2)
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_text("memo.wav  ·  done")).to_be_visible(timeout=JOB_MS)  # live updates over the WebSocket
    expect(page.get_by_test_id("stImage")).to_have_count(1)
    (row,) = server.store().query_generations()
    page.goto(f"{public}/history?id={row['id']}")
    settle(page)
    expect(page.get_by_text(f"{public}/history?id={row['id']}").first).to_be_visible()  # the link people can open
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "deploy-through-nginx.png"), full_page=True)

    token = tokens.create(Store(server.data_dir), Person("alice", "alice"), "deploy test")["token"]
    headers = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{public}/api/v1/generations", headers=headers, verify=False).json()
    assert [g["id"] for g in listed["generations"]] == [row["id"]]
    image = httpx.get(f"{public}/api/v1/generations/{row['id']}/image", headers=headers, verify=False)
    assert image.content == server.store().file_path(row["image_path"]).read_bytes()
    assert httpx.get(f"http://127.0.0.1:{public.split(':')[2].split('/')[0]}/v2i/", timeout=5).status_code == 400
    context.close()
