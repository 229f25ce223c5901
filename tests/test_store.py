"""The Icechunk store on real storage (local filesystem and a moto S3 server): template,
region writes and their proof, sentinels, done-ness and parse-time reconciliation."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import zarr
from _store_worker import PROVENANCE, delete_chunk, expected_arrays, region_chunk_ids, small_settings
from s3server import free_port, new_bucket, s3_endpoint, s3_store_section  # noqa: F401 - fixture

from windrisk import readcount, store
from windrisk.grid import RegionGrid
from windrisk.paths import RunPaths
from windrisk.settings import Settings
from windrisk.variables import VARIABLES


@pytest.fixture
def local_cfg(tmp_path: Path) -> dict:
    return small_settings({"url": str(tmp_path / "store.icechunk")})


@pytest.fixture(params=["local", "s3"])
def any_cfg(request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    if request.param == "local":
        return small_settings({"url": str(tmp_path / "store.icechunk")})
    endpoint = request.getfixturevalue("s3_endpoint")
    return small_settings(s3_store_section(endpoint, new_bucket(endpoint)))


def grid_of(cfg: Settings) -> RegionGrid:
    return cfg.region_grid()


def write(cfg: Settings, rid: str, sentinel_dir: Path | None = None) -> dict:
    grid = grid_of(cfg)
    payload = store.write_region(cfg, grid, rid, expected_arrays(grid, rid), PROVENANCE)
    if sentinel_dir is not None:
        store.write_sentinel(sentinel_dir / "store" / "regions" / f"{rid}.json", payload)
    return payload


def record_of(cfg: Settings, payload: dict) -> dict:
    """What the commit a sentinel names recorded for its region."""
    info = store.open_repo(cfg).lookup_snapshot(payload["snapshot_id"])
    return store.region_records(info)[payload["region_id"]]


def chunks_dir(cfg: Settings) -> Path:
    return Path(cfg.store.url) / "chunks"


def assert_region_equal(got: dict, want: dict) -> None:
    for name in VARIABLES:
        np.testing.assert_array_equal(got[name], want[name])  # NaNs compare equal here


# ---- template ---------------------------------------------------------------------------
def test_template_once_idempotent_and_complete(any_cfg: Settings) -> None:
    grid = grid_of(any_cfg)
    first = store.ensure_template(any_cfg, grid)
    again = store.ensure_template(any_cfg, grid)
    assert again == first and first["template_snapshot_id"]
    repo = store.open_repo(any_cfg)
    assert len(list(repo.ancestry(branch="main"))) == 2  # root + template, the re-run committed nothing
    assert repo.config.manifest.splitting is not None  # saved with the repository
    ds = store.open_dataset_at(any_cfg, first["template_snapshot_id"])
    assert set(VARIABLES) <= set(ds.data_vars)
    assert ds["bp_2011"].dims == ("y", "x") and ds["bp_2011"].encoding["chunks"] == grid.chunks
    np.testing.assert_array_equal(ds["y"].values, grid.y_coords())
    np.testing.assert_array_equal(ds["x"].values, grid.x_coords())
    assert ds["bp_2011"].attrs["units"] == VARIABLES["bp_2011"][0] and ds.attrs["license"]
    assert ds["spatial_ref"].attrs["GeoTransform"].split()[0] == repr(grid.transform.c)
    assert "crs_wkt" in ds["spatial_ref"].attrs and ds.attrs["rows_ascend_north"] is True
    assert ds["written"].shape == grid.n_chunks and int(ds["written"].sum()) == 0
    assert np.isnan(ds["crps"].values).all()


def test_template_for_another_grid_is_refused(any_cfg: Settings) -> None:
    store.ensure_template(any_cfg, grid_of(any_cfg))
    other = any_cfg.updated({"grid": {"shape": [96, 160]}})
    with pytest.raises(store.TemplateMismatchError, match=r"grid\.shape.*store\.url"):
        store.ensure_template(other, grid_of(other))


def test_write_region_needs_a_template(local_cfg: Settings) -> None:
    with pytest.raises(store.StoreError, match="store_template"):
        write(local_cfg, "y1_x1")
    assert not Path(local_cfg.store.url).exists()  # region jobs never create the store


# ---- region writes ----------------------------------------------------------------------------
def test_region_roundtrip_provenance_and_proof(any_cfg: Settings) -> None:
    grid = grid_of(any_cfg)
    template = store.ensure_template(any_cfg, grid)["template_snapshot_id"]
    first = write(any_cfg, "y1_x2")
    second = write(any_cfg, "y3_x4")
    assert set(store.SENTINEL_KEYS) <= set(second)
    assert first["base_snapshot_id"] == template and second["base_snapshot_id"] == first["snapshot_id"]
    assert_region_equal(
        store.read_region(any_cfg, grid, "y1_x2", second["snapshot_id"]), expected_arrays(grid, "y1_x2")
    )
    # The first snapshot does not hold the second region yet: reads are pinned to a snapshot.
    assert np.isnan(store.read_region(any_cfg, grid, "y3_x4", first["snapshot_id"])["crps"]).all()
    info = store.open_repo(any_cfg).lookup_snapshot(first["snapshot_id"])
    assert info.metadata["windrisk"]["run_name"] == "test"
    records = store.region_records(info)
    assert list(records) == ["y1_x2"] and records["y1_x2"]["base_snapshot_id"] == template
    meta = records["y1_x2"]
    assert meta["data_sha256"] == first["data_sha256"] and meta["inputs"] == PROVENANCE["inputs"]
    assert meta["config_hash"] == PROVENANCE["config_hash"]
    assert first["data_sha256"] == store.data_sha256(expected_arrays(grid, "y1_x2"))
    assert meta["chunk_refs"] == region_chunk_ids(any_cfg, grid, "y1_x2")  # the objects the tip references


def test_data_sha256_canonicalises_nans_without_changing_the_hash() -> None:
    """Hashes of stores written before hashing stopped copying still match: the same bytes are hashed."""
    grid = small_settings({"url": "unused"}).region_grid()
    arrays = expected_arrays(grid, "y1_x1")  # NaNs as np.nan sets them: canonical
    negative = {name: np.where(np.isnan(a), -np.float32(np.nan), a) for name, a in arrays.items()}  # as 0/0 makes
    assert (negative["crps"].view(np.uint32) == 0xFFC00000).any()
    as_float64 = {name: a.astype(np.float64) for name, a in arrays.items()}
    canonical = hashlib.sha256(
        b"".join(np.where(np.isnan(arrays[name]), np.float32(np.nan), arrays[name]).tobytes() for name in VARIABLES)
    )
    assert (
        store.data_sha256(arrays)
        == store.data_sha256(negative)
        == store.data_sha256(as_float64)
        == canonical.hexdigest()
    )
    assert store._region_arrays(grid, "y1_x1", arrays)["crps"] is arrays["crps"]  # canonical already: not copied
    clean = store._region_arrays(grid, "y1_x1", negative)["crps"]
    assert (np.isnan(clean) == np.isnan(negative["crps"])).all() and (clean.view(np.uint32) != 0xFFC00000).all()
    assert (negative["crps"].view(np.uint32) == 0xFFC00000).any()  # the caller's array is left alone


def test_proof_compares_chunk_refs_and_reads_no_chunk_data(local_cfg: Settings) -> None:
    """Writing (with its proof) and the retry check read manifests only: the kernel sees no chunk read."""
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    with readcount.files_read(chunks_dir(local_cfg)) as during_write:
        payload = write(local_cfg, "y1_x2")
    with readcount.files_read(chunks_dir(local_cfg)) as during_check:
        assert store.committed_sentinel(local_cfg, grid, "y1_x2", PROVENANCE) == payload
    with readcount.files_read(chunks_dir(local_cfg)) as during_read:
        store.read_region(local_cfg, grid, "y1_x2", payload["snapshot_id"])
    assert set(during_read) == set(region_chunk_ids(local_cfg, grid, "y1_x2").values())  # it sees Icechunk's reads
    assert not during_write and not during_check
    refs = record_of(local_cfg, payload)["chunk_refs"]
    assert store._proof(local_cfg, grid, "y1_x2", payload["snapshot_id"], refs)[0] is not None
    info, why = store._proof(local_cfg, grid, "y1_x2", payload["snapshot_id"], {**refs, "crps": None})
    assert info is None and "chunk refs of y1_x2" in why


def test_a_constant_region_kept_inline_proves_and_is_recognised(local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    zeros = {name: np.zeros(grid.chunks, np.float32) for name in VARIABLES}
    payload = store.write_region(local_cfg, grid, "y2_x1", zeros, PROVENANCE)
    refs = record_of(local_cfg, payload)["chunk_refs"]
    assert all(ref.startswith("inline:") for ref in refs.values())  # 4 KiB of zeros compress to ~20 bytes
    assert store.committed_sentinel(local_cfg, grid, "y2_x1", PROVENANCE) == payload


def test_rewrite_changes_the_sentinel(local_cfg: Settings) -> None:
    store.ensure_template(local_cfg, grid_of(local_cfg))
    one, two = write(local_cfg, "y2_x2"), write(local_cfg, "y2_x2")
    assert one["snapshot_id"] != two["snapshot_id"] and one["data_sha256"] == two["data_sha256"]


def test_bad_arrays_name_the_problem(local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    arrays = expected_arrays(grid, "y1_x1")
    with pytest.raises(ValueError, match="missing \\['crps'\\]"):
        store.write_region(local_cfg, grid, "y1_x1", {k: v for k, v in arrays.items() if k != "crps"}, PROVENANCE)
    arrays["rps"] = arrays["rps"][:5]
    with pytest.raises(ValueError, match="'rps' has shape"):
        store.write_region(local_cfg, grid, "y1_x1", arrays, PROVENANCE)


def test_lost_commit_is_written_again(local_cfg: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit whose snapshot is not on the branch (as Icechunk's local backend can lose) is redone."""
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    real, calls = store._branch_commit, []

    def first_lost(repo, branch, snap):  # the first proof fails, as if another commit overwrote ours
        calls.append(snap)
        return real(repo, branch, snap) if len(calls) > 1 else None

    monkeypatch.setattr(store, "_branch_commit", first_lost)
    payload = write(local_cfg, "y1_x3")
    assert len(calls) == 2 and payload["snapshot_id"] == calls[1] != calls[0]


def test_a_commit_that_never_proves_fails_after_the_bounded_tries(
    local_cfg: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one bound on a region's commits (docs/architecture.md, "Retries"): PROOF_TRIES writes,
    then a CommitError with the fix; no other loop multiplies it."""
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    calls: list[str] = []
    monkeypatch.setattr(store, "_branch_commit", lambda repo, branch, snap: calls.append(snap))  # never on the branch
    with pytest.raises(
        store.CommitError,
        match=rf"y1_x2: commit could not be proven after {store.PROOF_TRIES} tries "
        r".*Fix: ",
    ):
        write(local_cfg, "y1_x2")
    assert len(calls) == store.PROOF_TRIES == len(set(calls))  # each try a new commit


def test_a_held_lease_fails_the_writer_after_its_patience(local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    local_cfg = local_cfg.updated({"store": {"commit": {"patience_s": 0.5}}})
    fd = os.open(store.lock_path(local_cfg), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(store.StoreError, match="patience_s"):
            write(local_cfg, "y0_x1")
        assert store.group_committer(local_cfg).pending() == []  # the writer withdrew its ticket
    finally:
        os.close(fd)
    assert write(local_cfg, "y0_x1")["snapshot_id"]  # the store is untouched and usable


# ---- sentinels and done-ness -----------------------------------------------------------------
def test_sentinel_roundtrip_and_errors(tmp_path: Path, local_cfg: Settings) -> None:
    store.ensure_template(local_cfg, grid_of(local_cfg))
    payload = write(local_cfg, "y1_x1")
    path = tmp_path / "s" / "y1_x1.json"
    store.write_sentinel(path, payload)
    assert store.read_sentinel(path) == json.loads(json.dumps(payload))
    assert [p.name for p in path.parent.iterdir()] == ["y1_x1.json"]  # no temp files left
    with pytest.raises(ValueError, match="lacks keys"):
        store.write_sentinel(path, {"region_id": "y1_x1"})
    path.write_text("{not json")
    with pytest.raises(store.StoreError, match="delete it"):
        store.read_sentinel(path)


def test_status_states_and_reconcile(tmp_path: Path, local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    paths = RunPaths(str(tmp_path / "results"))
    results = Path(paths.results)
    store.ensure_template(local_cfg, grid)
    nan = write(local_cfg, "y0_x0", results)  # all-NaN: no chunk stored, still done
    assert nan["all_nan"] is True
    write(local_cfg, "y1_x1", results)
    write(local_cfg, "y2_x2")  # committed, sentinel never written (job killed after commit)
    rids = list(grid.all_region_ids)
    states = {s.region_id: s.state for s in store.region_status(local_cfg, grid, rids, paths)}
    assert states["y0_x0"] == states["y1_x1"] == "done"
    assert states["y2_x2"] == "unrecorded" and states["y3_x4"] == "missing"
    session = store.open_repo(local_cfg).readonly_session(branch="main")
    assert zarr.open_array(session.store, path="bp_2011", mode="r").nchunks_initialized == 2  # y1_x1, y2_x2

    # The store is thrown away and made again: both sentinels now name snapshots that are gone.
    shutil.rmtree(local_cfg.store.url)
    store.ensure_template(local_cfg, grid)
    states = {s.region_id: s.state for s in store.region_status(local_cfg, grid, rids, paths)}
    assert states["y0_x0"] == states["y1_x1"] == "stale" and states["y2_x2"] == "missing"
    assert store.reconcile_sentinels(local_cfg, grid, paths, rids) == ["y0_x0", "y1_x1"]
    assert (results / "store" / "regions" / "y1_x1.json.stale").exists()
    assert {s.state for s in store.region_status(local_cfg, grid, rids, paths)} == {"missing"}


def test_branch_reset_makes_sentinels_stale(tmp_path: Path, local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    paths = RunPaths(str(tmp_path / "results"))
    template = store.ensure_template(local_cfg, grid)["template_snapshot_id"]
    write(local_cfg, "y3_x3", Path(paths.results))
    repo = store.open_repo(local_cfg)
    repo.reset_branch("main", template, from_snapshot_id=repo.lookup_branch("main"))
    [state] = store.region_status(local_cfg, grid, ["y3_x3"], paths)
    assert state.state == "stale" and "not on the branch" in state.reason


def test_parse_time_hook_never_creates_and_fails_soft(tmp_path: Path, local_cfg: Settings, capsys) -> None:
    grid = grid_of(local_cfg)
    paths = RunPaths(str(tmp_path / "results"))
    regions = list(grid.all_region_ids)
    # A fresh local run: nothing to set aside or adopt, so the store is not even opened.
    assert store.reconcile_at_parse_time(local_cfg, grid, paths, regions) == []
    sentinel = Path(paths.region(paths.region_sentinel_pattern, regions[0]))
    sentinel.parent.mkdir(parents=True)
    sentinel.write_text('{"snapshot_id": "X"}')
    # A sentinel whose store does not exist is stale (set aside, loudly), and no store is created.
    assert store.reconcile_at_parse_time(local_cfg, grid, paths, regions) == [regions[0]]
    assert "store they name is gone" in capsys.readouterr().err
    assert not Path(local_cfg.store.url).exists()
    dead = small_settings(s3_store_section(f"http://127.0.0.1:{free_port()}", "nobucket"))
    started = time.monotonic()
    assert store.reconcile_at_parse_time(dead, grid, paths, regions) == []
    assert time.monotonic() - started < 60
    assert "could not check region sentinels" in capsys.readouterr().err


def test_sentinel_of_another_store_is_stale(tmp_path: Path, local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    paths = RunPaths(str(tmp_path / "results"))
    store.ensure_template(local_cfg, grid)
    write(local_cfg, "y1_x1", Path(paths.results))
    other = local_cfg.updated({"store": {"url": str(tmp_path / "other.icechunk")}})
    store.ensure_template(other, grid)
    [state] = store.region_status(other, grid, ["y1_x1"], paths)
    assert state.state == "stale" and "names the store" in state.reason


def test_adoption_rewrites_identical_sentinels_only_for_the_same_provenance(
    tmp_path: Path, local_cfg: Settings
) -> None:
    grid = grid_of(local_cfg)
    paths = RunPaths(str(tmp_path / "results"))
    store.ensure_template(local_cfg, grid)
    provenance = store.region_provenance(local_cfg, {"crps": {"sha256": "a"}}, "1.0")
    written = {}
    for rid in ("y0_x0", "y1_x1", "y2_x2"):
        payload = store.write_region(local_cfg, grid, rid, expected_arrays(grid, rid), provenance)
        store.write_sentinel(store.sentinel_path(paths, rid), payload)
        written[rid] = store.sentinel_path(paths, rid).read_bytes()
    store.write_region(
        local_cfg,
        grid,
        "y2_x2",
        expected_arrays(grid, "y2_x2"),
        store.region_provenance(local_cfg, {"crps": {"sha256": "b"}}, "1.0"),
    )  # newer, other input
    for rid in written:
        store.sentinel_path(paths, rid).unlink()
    rids = list(grid.all_region_ids)
    results = {a.region_id: a for a in store.adopt_regions(local_cfg, grid, paths, rids, provenance)}
    assert results["y0_x0"].adopted and results["y1_x1"].adopted
    assert not results["y2_x2"].adopted and "inputs.crps" in results["y2_x2"].reason
    assert not results["y3_x3"].adopted and "no commit" in results["y3_x3"].reason
    for rid in ("y0_x0", "y1_x1"):
        assert store.sentinel_path(paths, rid).read_bytes() == written[rid]  # byte-identical
    assert not store.sentinel_path(paths, "y2_x2").exists()
    other_code = store.region_provenance(local_cfg, {"crps": {"sha256": "a"}}, "2.0")
    store.sentinel_path(paths, "y0_x0").unlink()
    [again] = store.adopt_regions(local_cfg, grid, paths, ["y0_x0"], other_code)
    assert not again.adopted and "code_version" in again.reason


def test_committed_sentinel_skips_only_a_provably_landed_region_of_this_provenance(local_cfg: Settings) -> None:
    """A retried job writes the sentinel without computing only when the region's data reads back."""
    grid = grid_of(local_cfg)
    assert store.committed_sentinel(local_cfg, grid, "y1_x0", PROVENANCE) is None  # no store yet
    store.ensure_template(local_cfg, grid)
    first = write(local_cfg, "y1_x0")
    all_nan = write(local_cfg, "y0_x0")  # a later commit (and one that stores no chunk)
    assert record_of(local_cfg, all_nan)["chunk_refs"] == dict.fromkeys(VARIABLES)  # proven without chunks
    assert store.committed_sentinel(local_cfg, grid, "y1_x0", PROVENANCE) == first
    assert store.committed_sentinel(local_cfg, grid, "y0_x0", PROVENANCE) == all_nan
    assert store.committed_sentinel(local_cfg, grid, "y2_x0", PROVENANCE) is None  # never written
    other = {**PROVENANCE, "code_version": "other"}
    assert store.committed_sentinel(local_cfg, grid, "y1_x0", other) is None
    delete_chunk(local_cfg, region_chunk_ids(local_cfg, grid, "y1_x0")["crps"])
    assert store.committed_sentinel(local_cfg, grid, "y1_x0", PROVENANCE) is None  # chunk gone: recompute


def test_committed_sentinel_takes_the_newest_write_and_refuses_chunks_changed_since(local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    first, second = write(local_cfg, "y1_x0"), write(local_cfg, "y1_x0")  # same provenance, new chunks
    assert store.committed_sentinel(local_cfg, grid, "y1_x0", PROVENANCE) == second != first
    # A commit that changes the region's chunks without recording the region (not windrisk's write
    # path): the newest record and the mark still say done, but the tip holds other data.
    session = store.open_repo(local_cfg).writable_session("main")
    store._write_chunks(session, grid, "y1_x0", store._region_arrays(grid, "y1_x0", expected_arrays(grid, "y2_x0")))
    session.commit("changed by hand")
    assert store.committed_sentinel(local_cfg, grid, "y1_x0", PROVENANCE) is None


def test_committed_sentinel_of_a_commit_without_chunk_refs_reads_the_data(local_cfg: Settings) -> None:
    """Stores written before chunk refs were recorded keep working: their data is read and hashed."""
    grid = grid_of(local_cfg)
    store.ensure_template(local_cfg, grid)
    hand_over(local_cfg, "y1_x1", chunk_refs=False)
    store.commit_waiting(local_cfg)
    repo = store.open_repo(local_cfg)
    tip = repo.lookup_snapshot(repo.lookup_branch("main"))
    assert "chunk_refs" not in store.region_records(tip)["y1_x1"]
    with readcount.files_read(chunks_dir(local_cfg)) as reads:
        assert store.committed_sentinel(local_cfg, grid, "y1_x1", PROVENANCE) == store.sentinel_from_commit(
            local_cfg, "y1_x1", tip
        )
    assert set(reads) == set(region_chunk_ids(local_cfg, grid, "y1_x1").values())
    delete_chunk(local_cfg, region_chunk_ids(local_cfg, grid, "y1_x1")["crps"])
    assert store.committed_sentinel(local_cfg, grid, "y1_x1", PROVENANCE) is None


# ---- group commit ----------------------------------------------------------------------------
def hand_over(cfg: Settings, rid: str, *, chunk_refs: bool = True) -> str:
    """Write a region through a fork and queue it, as a region job does, without waiting.
    ``chunk_refs=False``: record it as windrisk did before it recorded chunk refs."""
    grid = grid_of(cfg)
    committer = store.group_committer(cfg)
    ticket = store.new_ticket(rid)
    fork, wrote = store._forked_write(cfg, grid, rid, store._region_arrays(grid, rid, expected_arrays(grid, rid)))
    if not chunk_refs:
        del wrote["chunk_refs"]
    record = {
        "region_id": rid,
        "data_sha256": store.data_sha256(expected_arrays(grid, rid)),
        "all_nan": False,
        **PROVENANCE,
        **wrote,
    }
    committer.submit(ticket, fork, record)
    return ticket


def test_waiting_regions_land_in_one_commit_with_their_records(any_cfg: Settings) -> None:
    grid = grid_of(any_cfg)
    store.ensure_template(any_cfg, grid)
    tickets = [hand_over(any_cfg, rid) for rid in ("y0_x1", "y1_x1", "y2_x1")]
    assert store.commit_waiting(any_cfg) == 3
    tip = store.open_repo(any_cfg).lookup_snapshot(store.open_repo(any_cfg).lookup_branch("main"))
    records = store.region_records(tip)
    assert sorted(records) == ["y0_x1", "y1_x1", "y2_x1"]
    assert {records[r]["ticket"] for r in records} == set(tickets)
    assert records["y1_x1"]["inputs"] == PROVENANCE["inputs"]  # provenance stored once, expanded per region
    for rid in records:
        assert_region_equal(store.read_region(any_cfg, grid, rid, tip.id), expected_arrays(grid, rid))
    assert store.group_committer(any_cfg).pending() == [] and store.commit_waiting(any_cfg) == 0


def test_a_newer_write_of_a_region_supersedes_the_older_and_bad_tickets_are_refused(local_cfg: Settings) -> None:
    store.ensure_template(local_cfg, grid_of(local_cfg))
    older, newer = hand_over(local_cfg, "y1_x2"), hand_over(local_cfg, "y1_x2")
    committer = store.group_committer(local_cfg)
    committer.area.put("tickets/" + store.new_ticket("y3_x3"), b"not a pickle")
    assert store.commit_waiting(local_cfg) == 1
    assert "superseded" in json.loads(committer.area.get(f"receipts/{older}"))["error"]
    assert "snapshot_id" in json.loads(committer.area.get(f"receipts/{newer}"))
    refused = [k for k in committer.area.keys("receipts/") if "y3_x3" in k]
    assert len(refused) == 1 and "cannot be read" in json.loads(committer.area.get(refused[0]))["error"]


def test_gc_refuses_while_a_run_writes_and_names_the_way_out(tmp_path: Path, local_cfg: Settings) -> None:
    grid = grid_of(local_cfg)
    paths = RunPaths(str(tmp_path / "results"))
    store.ensure_template(local_cfg, grid)
    hand_over(local_cfg, "y0_x2")  # a killed job's hand-over: its chunks are in no snapshot yet
    with pytest.raises(store.StoreError, match="commit-waiting"):
        store.collect_garbage(local_cfg, grid, paths, list(grid.all_region_ids), timedelta(0))
    store.commit_waiting(local_cfg)
    local_cfg = local_cfg.updated(
        {"store": {"gc": {"safety_window_s": 600}}}
    )  # writers silent for longer count as dead
    committer = store.group_committer(local_cfg)
    with committer.registered(store.new_ticket("y3_x0")), pytest.raises(store.StoreError, match="1 live writer"):
        store.collect_garbage(local_cfg, grid, paths, list(grid.all_region_ids), timedelta(0))
    report = store.collect_garbage(local_cfg, grid, paths, list(grid.all_region_ids), timedelta(0))
    assert report["cutoff_set_by"] == "store.gc.safety_window_s"
    tip = store.open_repo(local_cfg).lookup_branch("main")
    assert_region_equal(store.read_region(local_cfg, grid, "y0_x2", tip), expected_arrays(grid, "y0_x2"))


def test_deleted_chunks_make_a_done_region_stale_until_rewritten(tmp_path: Path, any_cfg: Settings) -> None:
    """Issue 16: gc deleted a committed region's chunk after its sentinel was written."""
    grid = grid_of(any_cfg)
    paths = RunPaths(str(tmp_path / "results"))
    store.ensure_template(any_cfg, grid)
    kept = [write(any_cfg, rid, Path(paths.results)) for rid in ("y1_x1", "y2_x3")][1]
    write(any_cfg, "y3_x3")  # committed, no sentinel: must not be adopted once its chunk is gone
    gone = {rid: region_chunk_ids(any_cfg, grid, rid)["bp_2011"] for rid in ("y1_x1", "y3_x3")}
    for chunk_id in gone.values():
        delete_chunk(any_cfg, chunk_id)
    # A retried job finds the chunk objects by one request each (a listing by id on S3), none lost.
    assert store.committed_sentinel(any_cfg, grid, "y2_x3", PROVENANCE) == kept
    assert store.committed_sentinel(any_cfg, grid, "y3_x3", PROVENANCE) is None
    rids = list(grid.all_region_ids)
    states = {s.region_id: s for s in store.region_status(any_cfg, grid, rids, paths)}
    assert states["y2_x3"].state == "done"
    assert states["y1_x1"].state == "stale" and f"bp_2011 chunks/{gone['y1_x1']}" in states["y1_x1"].reason
    assert states["y3_x3"].state == "missing" and "gone from the store" in states["y3_x3"].reason
    checked = {v.region_id: v for v in store.verify_regions(any_cfg, grid, paths, rids)}
    assert checked["y2_x3"].ok and not checked["y1_x1"].ok
    assert gone["y1_x1"] in checked["y1_x1"].reason and "delete" in checked["y1_x1"].reason

    # The parse-time hook sets the sentinel aside and adopts neither region back: Snakemake reruns them.
    assert store.reconcile_at_parse_time(any_cfg, grid, paths, rids, provenance=lambda: PROVENANCE) == ["y1_x1"]
    assert not store.sentinel_path(paths, "y1_x1").exists() and not store.sentinel_path(paths, "y3_x3").exists()
    write(any_cfg, "y1_x1", Path(paths.results))  # the rerun
    assert region_chunk_ids(any_cfg, grid, "y1_x1")["bp_2011"] != gone["y1_x1"]  # a new object
    [state] = store.region_status(any_cfg, grid, ["y1_x1"], paths)
    assert state.state == "done"
    assert all(v.ok for v in store.verify_regions(any_cfg, grid, paths, rids))
