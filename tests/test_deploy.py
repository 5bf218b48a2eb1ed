"""The deployment examples in deploy/: what can be checked without a machine to deploy to."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from landreg.cli import commands as landreg_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))


def _in_this_checkout(text: str) -> str:
    """A unit's paths pointed at this checkout, so that its programs exist here."""
    return text.replace("/opt/landreg/.venv/bin/", f"{ROOT}/.venv/bin/").replace("/opt/landreg", str(ROOT))


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed (apt-get install nginx-light)")
@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed: no certificate for nginx -t")
def test_nginx_accepts_the_configuration(tmp_path):
    conf = (DEPLOY / "nginx" / "landreg.conf").read_text()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=landreg.example.org",
         "-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    conf = conf.replace("/etc/letsencrypt/live/landreg.example.org", str(tmp_path))
    conf = conf.replace("/var/cache/nginx/landreg-tiles", str(tmp_path / "cache"))
    # nginx -t binds the ports it listens on: ports below 1024 only as root (CI runs as root, people not)
    conf = re.sub(r"listen (\[::\]:)?80;", r"listen \g<1>18080;", conf)
    conf = re.sub(r"listen (\[::\]:)?443 ", r"listen \g<1>18443 ", conf)
    assert "listen 18443 ssl" in conf and "listen [::]:18080;" in conf
    (tmp_path / "landreg.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/landreg.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_passes_the_headers_landreg_honours_and_caches_only_public_tiles():
    conf = (DEPLOY / "nginx" / "landreg.conf").read_text()
    for header in ("Host $host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme"):
        assert f"proxy_set_header {header};" in conf
    tiles = conf[conf.index("location ~ ^/collections/[^/]+/tiles/") :]
    tiles = tiles[: tiles.index("}")]
    assert "proxy_cache landreg_tiles;" in tiles and "proxy_cache_revalidate on;" in tiles
    assert "proxy_no_cache $http_authorization $cookie_landreg_session;" in tiles
    assert "proxy_cache_valid" not in tiles  # landreg's Cache-Control decides, not a fixed time
    metrics = conf[conf.index("location = /metrics") :]
    assert "deny all;" in metrics[: metrics.index("}")]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_accepts_the_unit(unit, tmp_path):
    copy = tmp_path / unit.name
    copy.write_text(_in_this_checkout(unit.read_text()))
    if unit.suffix == ".timer":  # verified with the service it starts
        service = unit.with_suffix(".service")
        (tmp_path / service.name).write_text(_in_this_checkout(service.read_text()))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unknown" not in result.stderr and "ignoring" not in result.stderr, result.stderr


def _landreg_commands(unit: Path) -> list[list[str]]:
    """The landreg command lines a unit runs (ExecStart, ExecStartPre), without the program."""
    found = []
    for line in unit.read_text().splitlines():
        match = re.match(r"Exec\w+=(.*)", line)
        if match and "bin/landreg " in match.group(1):
            words = shlex.split(match.group(1).split("bin/landreg ", 1)[1].rstrip("'"))
            found.append([w for w in words if "$" not in w])
        # (a shell's $(date) or $STATE_DIRECTORY is left out: only options and commands are checked)
    return found


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda p: p.name)
def test_the_units_run_commands_and_options_landreg_has(unit):
    commands = _landreg_commands(unit)
    assert commands, f"{unit.name} runs no landreg command"
    runner = CliRunner()
    listed = runner.invoke(landreg_app(), ["--help"], terminal_width=200).output
    for words in commands:
        command, options = words[0], [w for w in words[1:] if w.startswith("-")]
        assert re.search(rf"│ {command}\s", listed), f"`landreg {command}` is not in `landreg --help`"
        helped = runner.invoke(landreg_app(), [command, "--help"], terminal_width=200).output
        for option in options:
            assert option in helped, f"`landreg {command}` has no option {option}"


def test_the_api_unit_serves_with_several_workers_and_a_fresh_metrics_directory():
    unit = (DEPLOY / "systemd" / "landreg.service").read_text()
    (serve,) = [w for w in _landreg_commands(DEPLOY / "systemd" / "landreg.service") if w[0] == "serve"]
    assert "--workers" in serve
    assert "RuntimeDirectory=landreg" in unit and "PROMETHEUS_MULTIPROC_DIR=/run/landreg/" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit


def test_the_dockerfile_builds_from_the_lock_file():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", dockerfile, re.M)
    pip_lines = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert pip_lines[0].strip() == "RUN pip install --no-cache-dir -r requirements.lock"
    assert all("-r requirements.lock" in line or "--no-deps" in line for line in pip_lines)  # nothing unpinned
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "fonts-dejavu-core"):
        assert package in dockerfile  # WeasyPrint; GDAL and PROJ come in the wheels
    instructions = [line for line in dockerfile.lower().splitlines() if not line.lstrip().startswith("#")]
    assert not any("gdal" in line or "libproj" in line for line in instructions)
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), f"COPY {name}: not in the repository"
    assert 'exec landreg serve"]' in dockerfile
    assert "requirements.lock" not in (DEPLOY / "Dockerfile.dockerignore").read_text()
