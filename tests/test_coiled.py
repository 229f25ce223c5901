"""profiles/coiled and scripts/coiled/*.py, tested against a STAND-IN for the ``coiled`` package.

Coiled's service cannot be reached from CI, and the real ``coiled`` package is not installed.
Each test writes a fake ``coiled`` package (``coiled.batch.run``/``status``, ``coiled.delete_cluster``:
the only calls our scripts make) onto PYTHONPATH. It records every call as a JSON line and returns
scripted states. What is verified: the cluster-generic contract (one job id on stdout, exactly
running/success/failed, a cancel command that returns within its 2 s timeout), the options passed
to Coiled, and that credentials never reach a command or our output. What is NOT verified:
Coiled's real behaviour (cluster start-up, package sync, secret handling on its side).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from conftest import CONUS_CONFIG, REPO, run_snakemake

from windrisk import coiled_batch as cb
from windrisk.plan import job_stats
from windrisk.settings import CoiledSettings

SCRIPTS = REPO / "scripts" / "coiled"
SECRET = "s3cr3t-value-never-logged"

FAKE_COILED_INIT = '''
"""Stand-in for the coiled package (test only): records calls, returns scripted answers."""
import json, os

def _record(call, **kwargs):
    with open(os.environ["FAKE_COILED_LOG"], "a") as f:
        f.write(json.dumps({"call": call, **kwargs}) + "\\n")

def delete_cluster(name=None, cluster_id=None, **kwargs):
    _record("delete_cluster", cluster_id=cluster_id)
'''

FAKE_COILED_BATCH = '''
"""Stand-in for coiled.batch (test only)."""
import json, os
from coiled import _record

def run(command, **kwargs):
    print("Coiled would print a rich panel here")  # must not reach stdout of submit.py
    _record("run", command=command, **kwargs)
    return {"job_id": 77, "cluster_id": 123}

def status(cluster, **kwargs):
    _record("status", cluster=cluster)
    print("noise on stdout")
    scripted = json.loads(os.environ["FAKE_COILED_STATUS"])
    if scripted == "raise":
        raise ConnectionError("Coiled API unreachable")
    return scripted
'''


@pytest.fixture()
def fake_coiled(tmp_path: Path) -> dict[str, str]:
    """Env with the stand-in ``coiled`` first on PYTHONPATH and a call log; returns the env."""
    pkg = tmp_path / "fake" / "coiled"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_COILED_INIT)
    (pkg / "batch.py").write_text(FAKE_COILED_BATCH)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(pkg.parent), str(REPO / "src")]),
        "FAKE_COILED_LOG": str(tmp_path / "calls.jsonl"),
        "FAKE_COILED_STATUS": "[]",
    }


def calls(env: dict[str, str]) -> list[dict]:
    path = Path(env["FAKE_COILED_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_script(name: str, *args: str, env: dict[str, str], cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def jobscript(tmp_path: Path, configfile: Path) -> Path:
    """A jobscript as cluster-generic writes it in no-shared-fs mode (secrets in `export`)."""
    path = tmp_path / "snakejob.regions.sh"
    path.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        # properties = {{"type": "group", "groupid": "regions", "threads": 4, "resources": {{"mem_mb": 16000}}}}
        export SNAKEMAKE_STORAGE_S3_ACCESS_KEY='AKIAEXAMPLE' SNAKEMAKE_STORAGE_S3_SECRET_KEY='{SECRET}' && python -m snakemake --deploy-sources s3://b/p/src.tar.xz abc && python -m snakemake --snakefile 'Snakefile' --target-jobs 'wind_region:region_id=y0_x0' --configfiles '{configfile}' --mode 'remote' && exit 0 || exit 1
        """)
    )
    return path


def test_split_env_declarations_cuts_secrets_out_of_the_command() -> None:
    script = "#!/bin/sh\nexport A='x' B=\"it's\" && python -m snakemake --mode remote\n"
    rest, found = cb.split_env_declarations(script)
    assert found == {"A": "x", "B": "it's"}
    assert rest == "#!/bin/sh\npython -m snakemake --mode remote\n"


def test_split_env_declarations_after_the_workdir_prefix() -> None:
    # With a shared filesystem Snakemake writes `cd <workdir> && export ... && python ...`.
    script = "#!/bin/sh\ncd '/w d' && export A='x' B='y z' && python -m snakemake && exit 0 || exit 1\n"
    rest, found = cb.split_env_declarations(script)
    assert found == {"A": "x", "B": "y z"}
    assert rest == "#!/bin/sh\ncd '/w d' && python -m snakemake && exit 0 || exit 1\n"


@pytest.mark.parametrize(
    ("script", "match"),
    [
        ("cd /w; export TOKEN=abc && python -m snakemake\n", "cannot cut out"),  # unknown layout
        ("python -m snakemake --config key=s3cr3t\n", r"\['MY_KEY'\]"),  # value on the command line
    ],
)
def test_command_from_jobscript_refuses_what_would_leak(script: str, match: str) -> None:
    with pytest.raises(cb.CoiledBatchError, match=match):
        cb.command_from_jobscript(script, {"MY_KEY": "s3cr3t", "REGION": "us-east-1"}, {}, "js.sh")
    # A non-credential value (a region name) may appear in the command.
    assert cb.command_from_jobscript("python -m x us-east-1\n", {"REGION": "us-east-1"}, {}, "js.sh")


TINY_SNAKEFILE = """\
envvars: "WINDRISK_TEST_TOKEN"
rule one:
    output: "one.txt"
    shell: "touch {output}"
"""


@pytest.mark.parametrize(
    "usage",
    [
        pytest.param(["none"], id="none"),  # the shipped profile: declaration first on the line
        pytest.param(["input-output"], id="input-output"),  # `cd <workdir> && export ...`
        # The other two layouts differ only in the python and Snakefile paths: ~12 s each.
        pytest.param([], id="all-default", marks=pytest.mark.slow),
        pytest.param(["sources", "source-cache"], id="sources-only", marks=pytest.mark.slow),
    ],
)
def test_real_jobscripts_keep_secrets_out_in_every_shared_fs_mode(
    tmp_path: Path,
    fake_coiled: dict[str, str],
    s3_endpoint: str,
    usage: list[str],
) -> None:
    """cluster-generic writes a real jobscript in each `shared-fs-usage` mode and runs the real
    submit.py on it (Coiled is the stand-in): secrets go only to `secret_env`, never to the command,
    Snakemake's output or its log. The stand-in reports the job failed, so the run ends at once."""
    from s3server import new_bucket

    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    env = {
        **fake_coiled,
        "WINDRISK_TEST_TOKEN": "tok-" + SECRET,
        "SNAKEMAKE_STORAGE_S3_SECRET_KEY": SECRET,
        "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": "AKIAEXAMPLE",
        "FAKE_COILED_STATUS": json.dumps({"tasks": [{"state": "error"}]}),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(tmp_path / "Snakefile"),
            "-d",
            str(tmp_path),
            "-j1",
            "--workflow-profile",
            "none",
            "--executor",
            "cluster-generic",
            "--cluster-generic-submit-cmd",
            f"{sys.executable} {SCRIPTS / 'submit.py'}",
            "--cluster-generic-status-cmd",
            f"{sys.executable} {SCRIPTS / 'status.py'}",
            "--seconds-between-status-checks",
            "1",
            "--default-storage-provider",
            "s3",
            "--default-storage-prefix",
            f"s3://{new_bucket(s3_endpoint)}/run",
            "--storage-s3-endpoint-url",
            s3_endpoint,
            *(["--shared-fs-usage", *usage] if usage else []),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    runs = [c for c in calls(env) if c["call"] == "run"]
    assert len(runs) == 1, out[-3000:]
    (run,) = runs
    assert run["secret_env"]["SNAKEMAKE_STORAGE_S3_SECRET_KEY"] == SECRET, out[-3000:]
    assert run["secret_env"]["WINDRISK_TEST_TOKEN"] == "tok-" + SECRET
    assert "--target-jobs" in run["command"][2] and "export" not in run["command"][2]
    assert "-m snakemake --keep-going " in run["command"][2]
    logs = "".join(p.read_text() for p in (tmp_path / ".snakemake" / "log").glob("*.log"))
    assert SECRET not in json.dumps(run["command"]) + out + logs


def test_keep_going_is_added_only_to_the_jobs_own_snakemake_call() -> None:
    command = (
        "python -m snakemake --deploy-sources s3://b/src.tar.xz abc && "
        "python -m snakemake --snakefile 'Snakefile' --target-jobs 'a:r=1' 'a:r=2' && exit 0 || exit 1"
    )
    assert cb.with_keep_going(command) == command.replace(
        "&& python -m snakemake --snakefile", "&& python -m snakemake --keep-going --snakefile"
    )
    assert cb.with_keep_going(cb.with_keep_going(command)) == cb.with_keep_going(command)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([], "failed"),  # unknown job id
        ({"cluster_state": "pending", "tasks": []}, "running"),
        ({"cluster_state": "stopped", "tasks": []}, "failed"),
        ({"tasks": [{"state": "pending"}]}, "running"),
        ({"tasks": [{"state": "queued"}]}, "running"),
        ({"tasks": [{"state": "assigned"}]}, "running"),
        ({"tasks": [{"state": "running"}]}, "running"),
        ({"tasks": [{"state": "done", "exit_code": 0}]}, "success"),
        ([{"tasks": [{"state": "done", "exit_code": 0}]}, {"tasks": [{"state": "done", "exit_code": 0}]}], "success"),
        ({"tasks": [{"state": "done", "exit_code": 1}]}, "failed"),
        ({"tasks": [{"state": "error", "exit_code": None}]}, "failed"),
        ({"tasks": [{"state": "done", "exit_code": 0}, {"state": "running"}]}, "running"),
        ({"cluster_state": "error", "tasks": [{"state": "running"}]}, "failed"),
        ({"tasks": [{"state": "teleported"}]}, "failed"),  # unknown state
    ],
)
def test_classify_maps_every_coiled_state(result: object, expected: str) -> None:
    assert cb.classify(result)[0] == expected


def test_run_options_vm_type_wins_and_memory_is_rounded_up() -> None:
    settings = CoiledSettings(software="env", region="us-west-2")
    opts = cb.run_options(settings, name="n", cpu=2, memory_mb=5000, secret_env={}, forward_aws_credentials=False)
    assert opts == {"name": "n", "region": "us-west-2", "software": "env", "cpu": 2, "memory": "5 GiB"}
    vm = CoiledSettings(container="img", vm_type="m7i.2xlarge")
    opts = cb.run_options(vm, name=None, cpu=2, memory_mb=5000, secret_env={"K": "v"}, forward_aws_credentials=True)
    assert opts == {
        "container": "img",
        "vm_type": ["m7i.2xlarge"],
        "secret_env": {"K": "v"},
        "forward_aws_credentials": True,
    }
    with pytest.raises(cb.CoiledBatchError, match="not both"):
        cb.run_options(
            CoiledSettings(software="a", container="b"),
            name=None,
            cpu=None,
            memory_mb=None,
            secret_env={},
            forward_aws_credentials=False,
        )


def test_submit_prints_only_the_job_id_and_keeps_secrets_out(tmp_path: Path, fake_coiled: dict[str, str]) -> None:
    js = jobscript(tmp_path, CONUS_CONFIG)
    env = {**fake_coiled, "MY_TOKEN": "tok-" + SECRET}
    proc = run_script(
        "submit",
        "--name",
        "windrisk-GROUP-1",
        "--cpu",
        "4",
        "--memory-mb",
        "16000",
        "--secret-env",
        "MY_TOKEN",
        str(js),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "123\n"  # the cluster id, alone: cluster-generic takes the first line
    assert SECRET not in proc.stdout + proc.stderr
    (run,) = calls(env)
    # Config `coiled:` section of config/conus.yaml, found through --configfiles in the jobscript.
    assert run["software"] == "windrisk-0-1-0" and run["region"] == "us-west-2"
    assert run["vm_type"] == ["m7i.2xlarge"] and "cpu" not in run
    assert run["name"] == "windrisk-GROUP-1"
    assert run["secret_env"] == {
        "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": "AKIAEXAMPLE",
        "SNAKEMAKE_STORAGE_S3_SECRET_KEY": SECRET,
        "MY_TOKEN": "tok-" + SECRET,
    }
    command = run["command"]
    assert command[:2] == ["/bin/sh", "-c"] and "--mode 'remote'" in command[2]
    assert SECRET not in json.dumps(command) and "export" not in command[2]


def test_submit_fails_clearly_on_a_missing_secret_env(tmp_path: Path, fake_coiled: dict[str, str]) -> None:
    env = {k: v for k, v in fake_coiled.items() if k != "NOT_SET_ANYWHERE"}
    proc = run_script("submit", "--secret-env", "NOT_SET_ANYWHERE", str(jobscript(tmp_path, CONUS_CONFIG)), env=env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "NOT_SET_ANYWHERE" in proc.stderr and calls(env) == []


@pytest.mark.parametrize(
    ("scripted", "expected"),
    [
        ({"cluster_state": "running", "tasks": [{"state": "pending"}]}, "running"),
        ({"tasks": [{"state": "done", "exit_code": 0}]}, "success"),
        ({"tasks": [{"state": "done", "exit_code": 3}]}, "failed"),
        ({"tasks": [{"state": "no-such-state"}]}, "failed"),
        ("raise", "failed"),
    ],
)
def test_status_prints_exactly_one_word(fake_coiled: dict[str, str], scripted: object, expected: str) -> None:
    env = {**fake_coiled, "FAKE_COILED_STATUS": json.dumps(scripted)}
    proc = run_script("status", "123", env=env)
    assert proc.returncode == 0  # a non-zero exit would abort the whole Snakemake run
    assert proc.stdout == f"{expected}\n"
    if expected == "failed":
        assert "coiled status: job 123:" in proc.stderr
    assert calls(env)[0] == {"call": "status", "cluster": 123}


def test_cancel_returns_within_the_timeout_and_deletes_each_cluster(fake_coiled: dict[str, str]) -> None:
    ids = [str(i) for i in range(100, 120)]  # cluster-generic passes up to 20 ids per call
    start = time.monotonic()
    proc = run_script("cancel", *ids, env=fake_coiled)
    assert proc.returncode == 0 and time.monotonic() - start < 2.0 + 1.0  # 2 s limit + interpreter start
    deadline = time.monotonic() + 30
    while len(calls(fake_coiled)) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.2)  # the cancellation runs detached
    assert [c["cluster_id"] for c in calls(fake_coiled)] == [int(i) for i in ids]


def test_scripts_are_bare_executables() -> None:
    for name in ("submit", "status", "cancel"):
        path = SCRIPTS / f"{name}.py"
        assert os.access(path, os.X_OK) and path.read_text().startswith("#!/usr/bin/env python3\n")


@pytest.mark.slow
def test_coiled_profile_dry_run_on_conus(tmp_path: Path) -> None:
    """`--profile profiles/coiled -n` on the CONUS config, offline: S3 is a local moto server.

    A dry run with the S3 storage plugin asks S3 about every output, so it needs an S3 endpoint;
    `--storage-s3-endpoint-url` points it at moto. Two regions keep it quick: the full
    405-region dry run against moto takes about 4 minutes here (1,224 jobs, ~60 s CPU).
    """
    from s3server import S3_ENV, moto_server, new_bucket, s3_env

    config = yaml.safe_load(CONUS_CONFIG.read_text())
    config["store"]["reconcile_sentinels"] = False  # no parse-time look at the S3 store
    config["regions"] = "y9_x15,y9_x16"
    configfile = tmp_path / "conus_offline.yaml"
    configfile.write_text(yaml.safe_dump(config))
    with s3_env(), moto_server() as endpoint:
        bucket = new_bucket(endpoint)
        env = {**S3_ENV, "WINDRISK_S3_PREFIX": f"s3://{bucket}/run"}
        proc = run_snakemake(
            tmp_path,
            "--profile",
            str(REPO / "profiles" / "coiled"),
            "-n",
            "--storage-s3-endpoint-url",
            endpoint,
            configfile=configfile,
            env=env,
        )
    out = proc.stdout + proc.stderr
    assert "Using profiles" in out and "profiles/coiled" in out
    stats = job_stats(out)
    assert stats["wind_region"] == 2 and stats["buildings_region"] == 2, out[-3000:]
    # Every rule with a job per region runs in the one region group; an ungrouped one would
    # start one Coiled cluster per region (405 on CONUS).
    per_region = {
        rule
        for rule, block in re.findall(r"rule (\w+):\n(.*?)\n\n", out, re.DOTALL)
        if "wildcards: region_id=" in block
    }
    groups = yaml.safe_load((REPO / "profiles" / "coiled" / "profile.yaml").read_text())["groups"]
    assert per_region >= {"wind_region", "buildings_region", "report_region"}, out[-3000:]
    assert {groups.get(rule) for rule in per_region} == {"regions"}, per_region
