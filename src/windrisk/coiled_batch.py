"""Coiled batch jobs behind ``profiles/coiled``: submit a Snakemake jobscript, report, cancel.

No Snakemake executor plugin for Coiled exists, so the ``cluster-generic`` executor (1.0.9) calls
``scripts/coiled/{submit,status,cancel}.py``, thin wrappers around the three ``*_main`` here.
Its contract (snakemake_executor_plugin_cluster_generic/__init__.py):

- submit: ``<submit-cmd> "<jobscript>"`` through a shell; the first stdout line is the job id.
- status: ``<status-cmd> '<id>'``; stdout must be exactly one of running / success / failed,
  and a non-zero exit aborts the whole run, so we always exit 0.
- cancel: ``[cancel-cmd, id, ...]`` with ``shell=False``, up to 20 ids and a 2 s timeout.

The Coiled calls used (coiled 1.135, ``coiled/batch.py``; https://docs.coiled.io/user_guide/api.html):
``coiled.batch.run(command, **options) -> {"cluster_id", "job_id", ...}`` (every batch job
starts its own cluster), ``coiled.batch.status(cluster_id)`` (jobs with per-task ``state``,
``exit_code`` and ``cluster_state``) and ``coiled.delete_cluster(cluster_id=...)``.
``coiled`` is imported lazily, so the tests run these functions against a stand-in package.

Credentials never reach a command line, a config file or a log: the ``export NAME='value' &&``
declarations Snakemake writes into jobscripts (storage-plugin settings such as
``SNAKEMAKE_STORAGE_S3_SECRET_KEY``, the workflow's ``envvars:``) are cut out and sent as Coiled
secret env vars, together with the variables named by ``--secret-env``; only their names are
ever printed. The declaration starts the command line with ``shared-fs-usage: none`` and follows
``cd <workdir> &&`` in every mode that assumes a common working directory; both are handled, and
a command that still holds a declaration or a secret's value is refused, never sent.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # the status command runs every few seconds: it imports no more than it needs
    from windrisk.settings import CoiledSettings

RUNNING, SUCCESS, FAILED = "running", "success", "failed"
# Task states seen in `coiled batch status` (cli/batch/status.py colours pending/assigned/error).
TASK_RUNNING = frozenset({"pending", "queued", "assigned", "starting", "running"})
TASK_DONE = frozenset({"done", "complete", "completed", "success", "succeeded"})
TASK_FAILED = frozenset({"error", "errored", "failed", "cancelled", "canceled", "killed"})
# Cluster states meaning no task will run any more.
CLUSTER_ENDED = frozenset({"stopped", "stopping", "error", "errored", "failed", "deleted", "closed"})

# `export A='x' B="y" &&` as written by snakemake-interface-executor-plugins (values are repr()):
# first on the line, or after `cd <workdir> &&` (RealExecutor.format_job_exec puts the prefix first).
_QUOTED = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
_ENV_DECLARATION = re.compile(rf"(^|&&[ \t]+)export[ \t]+((?:\w+=(?:{_QUOTED})[ \t]*)+)&&[ \t]*", re.MULTILINE)
_ENV_ITEM = re.compile(rf"(\w+)=({_QUOTED})")
# Any declaration left after the cut means a jobscript layout we do not know: refuse to send it.
_ANY_EXPORT = re.compile(r"(^|[;&|(]\s*)export\s+\w+=", re.MULTILINE)
# The job's properties (params, resources, file lists) are for the submit command, not the job.
_PROPERTIES_LINE = re.compile(r"^# properties = .*\n?", re.MULTILINE)
# Names whose values must never appear in the command (values of other exports, e.g. a region
# name, may legitimately appear there too).
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|CREDENTIAL|KEY", re.IGNORECASE)


class CoiledBatchError(RuntimeError):
    """A Coiled call or its input is unusable; the message names the cause and the fix."""


# ---- submit -------------------------------------------------------------------------------------
def split_env_declarations(script: str) -> tuple[str, dict[str, str]]:
    """Jobscript → (script without its ``export NAME=value &&`` declarations, {NAME: value})."""
    found: dict[str, str] = {}

    def cut(match: re.Match[str]) -> str:
        for name, quoted in _ENV_ITEM.findall(match.group(2)):
            found[name] = ast.literal_eval(quoted)
        return match.group(1)  # keeps a preceding `cd <workdir> &&` chained to the command

    return _ENV_DECLARATION.sub(cut, script), found


def command_from_jobscript(
    script: str, declared: Mapping[str, str], forwarded: Mapping[str, str], source: str | Path
) -> str:
    """The shell command to send: ``script`` (declarations already cut) without its properties line.

    Refused, naming ``source``, when an ``export`` is left or the value of a ``--secret-env``
    variable or of a declared credential (``*KEY*``, ``*SECRET*``, ``*TOKEN*`` ...) appears in it.
    """
    command = _PROPERTIES_LINE.sub("", script)
    if _ANY_EXPORT.search(command):
        raise CoiledBatchError(
            f"jobscript {source} declares env vars in a form submit.py cannot cut out, so they would "
            "reach the Coiled command line; not submitted. Pass them with --secret-env instead"
        )
    secret = {**{n: v for n, v in declared.items() if _SECRET_NAME.search(n)}, **forwarded}
    leaked = sorted(name for name, value in secret.items() if value and value in command)
    if leaked:
        raise CoiledBatchError(
            f"the value of {leaked} also appears in the command of jobscript {source} (e.g. in "
            "--config or a path); not submitted. Keep it out of the Snakemake command line"
        )
    return with_keep_going(command)


def with_keep_going(command: str) -> str:
    """``command`` with ``--keep-going`` on the job's own Snakemake call (the one with --target-jobs).

    Snakemake never passes --keep-going to a group job, so one failed region stopped the other
    regions of its group (and killed those running). With it, and ``keep-incomplete`` in
    profiles/coiled (the main process otherwise deletes the outputs of every job of a failed
    group), one failed region in a group of 20 is one region to rerun.
    """
    parts = command.split(" && ")
    for i, part in enumerate(parts):
        if "--target-jobs" in part and "--keep-going" not in part:
            parts[i] = part.replace("-m snakemake ", "-m snakemake --keep-going ", 1)
    return " && ".join(parts)


def secrets_from_environment(names: Sequence[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values of the named local env vars; a missing one is an error naming it."""
    environ = os.environ if environ is None else environ
    missing = [n for n in names if n not in environ]
    if missing:
        raise CoiledBatchError(
            f"--secret-env names {missing}, which are not set in this environment; "
            "export them before running Snakemake or drop them from the submit command"
        )
    return {n: environ[n] for n in names}


def configfiles_in_jobscript(script: str) -> list[str]:
    """The ``--configfiles`` Snakemake passed to the job (the user's ``--configfile``)."""
    for line in script.splitlines():
        if "--configfiles" not in line:
            continue
        words = shlex.split(line)
        start = words.index("--configfiles") + 1
        end = next((i for i in range(start, len(words)) if words[i].startswith("-")), len(words))
        return words[start:end]
    return []


def load_settings(configfiles: Sequence[str]) -> CoiledSettings:
    """Merge the ``coiled`` sections of the config files (later files win)."""
    merged: dict[str, Any] = {}
    for path in configfiles:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise CoiledBatchError(f"config file {path} does not exist (from --configfile)") from None
        merged.update(data.get("coiled") or {})
    from windrisk.settings import CoiledSettings, from_mapping

    return from_mapping(CoiledSettings, merged, "coiled.")


def run_options(
    settings: CoiledSettings,
    *,
    name: str | None,
    cpu: int | None,
    memory_mb: int | None,
    secret_env: Mapping[str, str],
    forward_aws_credentials: bool,
) -> dict[str, Any]:
    """Keyword arguments for ``coiled.batch.run``; a VM type wins over cpu/memory."""
    if settings.software and settings.container:
        raise CoiledBatchError("config 'coiled': set either 'software' or 'container', not both")
    options: dict[str, Any] = {
        "name": name,
        "region": settings.region,
        "software": settings.software,
        "container": settings.container,
    }
    if settings.vm_type:
        options["vm_type"] = [settings.vm_type]
    else:
        options["cpu"] = cpu
        options["memory"] = f"{-(-memory_mb // 1024)} GiB" if memory_mb else None
    if secret_env:
        options["secret_env"] = dict(secret_env)
    if forward_aws_credentials:
        options["forward_aws_credentials"] = True
    return {k: v for k, v in options.items() if v is not None}


def submit(
    jobscript: Path,
    settings: CoiledSettings,
    *,
    name: str | None = None,
    cpu: int | None = None,
    memory_mb: int | None = None,
    secret_names: Sequence[str] = (),
    forward_aws_credentials: bool = False,
) -> str:
    """Start one Coiled batch job running the jobscript; return the id status/cancel take."""
    script, declared = split_env_declarations(jobscript.read_text())
    forwarded = secrets_from_environment(secret_names)
    command = command_from_jobscript(script, declared, forwarded, jobscript)
    secrets = {**declared, **forwarded}
    options = run_options(
        settings,
        name=name,
        cpu=cpu,
        memory_mb=memory_mb,
        secret_env=secrets,
        forward_aws_credentials=forward_aws_credentials,
    )
    with _quiet_stdout():
        result = _coiled("coiled.batch").run(["/bin/sh", "-c", command], **options)
    # status() takes the cluster id (one cluster per batch job); fall back to the job id.
    result = result if isinstance(result, Mapping) else {"job_id": result}
    job_id = result.get("cluster_id") or result.get("job_id")
    if job_id in (None, ""):
        raise CoiledBatchError(f"coiled.batch.run returned no cluster_id or job_id: {sorted(result)}")
    return str(job_id)


# ---- status -------------------------------------------------------------------------------------
def _jobs(result: Any) -> list[Mapping[str, Any]]:
    """``coiled.batch.status`` output as a list of job dicts (it may be one dict or a list)."""
    if isinstance(result, Mapping):
        return [result]
    return [job for job in (result or []) if isinstance(job, Mapping)]


def classify(result: Any) -> tuple[str, str]:
    """``coiled.batch.status`` output → (running | success | failed, why)."""
    jobs = _jobs(result)
    if not jobs:
        return FAILED, "Coiled knows no batch job with this id"
    cluster_states = {str(job.get("cluster_state") or "").lower() for job in jobs} - {""}
    tasks = [task for job in jobs for task in (job.get("tasks") or [])]
    if not tasks:
        if cluster_states & CLUSTER_ENDED:
            return FAILED, f"cluster {'/'.join(sorted(cluster_states))} before any task ran"
        return RUNNING, "no task started yet"
    states = [str(task.get("state") or "").lower() for task in tasks]
    unknown = sorted(set(states) - TASK_RUNNING - TASK_DONE - TASK_FAILED)
    if unknown:
        return FAILED, f"unknown Coiled task state(s) {unknown}; treating the job as failed"
    if any(s in TASK_FAILED for s in states):
        return FAILED, "a task ended in error"
    bad_exit = [
        t.get("exit_code")
        for t, s in zip(tasks, states, strict=True)
        if s in TASK_DONE and t.get("exit_code") not in (0, None)
    ]
    if bad_exit:
        return FAILED, f"a task exited with code {bad_exit[0]}"
    if all(s in TASK_DONE for s in states):
        return SUCCESS, "all tasks done with exit code 0"
    if cluster_states & CLUSTER_ENDED:
        return FAILED, f"cluster {'/'.join(sorted(cluster_states))} while tasks were unfinished"
    return RUNNING, "tasks pending or running"


def status(job_id: str) -> tuple[str, str]:
    """Ask Coiled about one batch job; (running | success | failed, why)."""
    with _quiet_stdout():
        result = _coiled("coiled.batch").status(_as_id(job_id))
    return classify(result)


# ---- cancel -------------------------------------------------------------------------------------
def cancel(job_ids: Sequence[str]) -> list[str]:
    """Delete each batch job's cluster; return the ids that could not be cancelled."""
    coiled = _coiled("coiled")
    failed = []
    for job_id in job_ids:
        try:
            with _quiet_stdout():
                coiled.delete_cluster(cluster_id=_as_id(job_id))
        except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
            print(f"coiled cancel: {job_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(job_id)
    return failed


def detach_cancel(job_ids: Sequence[str]) -> subprocess.Popen[bytes]:
    """Cancel in a detached process: cluster-generic kills the cancel command after 2 s."""
    cmd = [sys.executable, "-m", "windrisk.coiled_batch", "cancel-now", *job_ids]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_src_dir(), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL, env=env)


# ---- helpers ------------------------------------------------------------------------------------
def _coiled(module: str) -> ModuleType:
    """Import ``module`` (coiled or a submodule) or raise CoiledBatchError with the fix."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CoiledBatchError(
            f"cannot import {module} ({exc}); install it into the environment Snakemake runs in "
            "(pip install 'windrisk[coiled]', or pip install coiled) and log in (coiled login, or set "
            "DASK_COILED__TOKEN)"
        ) from None


def _as_id(job_id: str) -> int | str:
    """A job id from the command line as Coiled wants it: int when numeric (cluster ids are)."""
    return int(job_id) if job_id.isdigit() else job_id


def _src_dir() -> str:
    """The folder holding the ``windrisk`` package, for the detached process's PYTHONPATH."""
    return str(Path(__file__).resolve().parents[1])


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send anything Coiled prints to stderr: stdout carries only our one-line answer."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


# ---- command-line entry points (scripts/coiled/*.py) --------------------------------------------
def submit_main(argv: Sequence[str]) -> int:
    """``submit.py [options] JOBSCRIPT``: print the Coiled job id, nothing else, on stdout."""
    parser = argparse.ArgumentParser(prog="submit.py", description=submit_main.__doc__)
    parser.add_argument("jobscript", type=Path)
    parser.add_argument("--name")
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--memory-mb", type=int)
    parser.add_argument(
        "--configfile",
        action="append",
        default=[],
        help="config with a 'coiled' section (default: the run's --configfile)",
    )
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="forward this local env var as a Coiled secret (name only here)",
    )
    parser.add_argument(
        "--forward-aws-credentials",
        action="store_true",
        help="let Coiled forward short-lived AWS credentials for the store",
    )
    args = parser.parse_args(argv)
    try:
        configfiles = args.configfile or configfiles_in_jobscript(args.jobscript.read_text())
        job_id = submit(
            args.jobscript,
            load_settings(configfiles),
            name=args.name,
            cpu=args.cpu,
            memory_mb=args.memory_mb,
            secret_names=args.secret_env,
            forward_aws_credentials=args.forward_aws_credentials,
        )
    except (CoiledBatchError, OSError) as exc:
        print(f"coiled submit: {exc}", file=sys.stderr)
        return 1
    print(job_id)
    return 0


def status_main(argv: Sequence[str]) -> int:
    """``status.py JOB_ID``: print running, success or failed; always exit 0."""
    if len(argv) != 1:
        print("usage: status.py JOB_ID", file=sys.stderr)
        print(FAILED)
        return 0
    try:
        state, why = status(argv[0])
    except Exception as exc:  # noqa: BLE001 - a non-zero exit would abort the whole run
        state, why = FAILED, f"status query failed: {type(exc).__name__}: {exc}"
    if state == FAILED:
        print(f"coiled status: job {argv[0]}: {why}", file=sys.stderr)
    print(state)
    return 0


def cancel_main(argv: Sequence[str]) -> int:
    """``cancel.py ID [ID ...]``: start the cancellation in the background and return at once."""
    if argv:
        detach_cancel(list(argv))
    return 0


def _cancel_now_main(argv: Sequence[str]) -> int:
    """``cancel-now ID [ID ...]`` (the detached process): exit 1 if any id was not cancelled."""
    try:
        return 1 if cancel(list(argv)) else 0
    except CoiledBatchError as exc:
        print(f"coiled cancel: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    _COMMANDS = {"submit": submit_main, "status": status_main, "cancel": cancel_main, "cancel-now": _cancel_now_main}
    if len(sys.argv) < 2 or sys.argv[1] not in _COMMANDS:
        sys.exit(f"usage: python -m windrisk.coiled_batch {{{','.join(_COMMANDS)}}} ...")
    sys.exit(_COMMANDS[sys.argv[1]](sys.argv[2:]))
