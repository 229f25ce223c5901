"""Where each real input comes from and how to put it where the config points.

One ``Source`` per input config key (under ``inputs``): the product, its citation, where it is
published, its licence, the exact file(s) to take, the CRS / units / nodata windrisk expects, and
the commands that prepare it. ``windrisk inputs`` and ``docs/inputs.md`` show the same entries.

Facts that could not be confirmed against the publisher carry ``UNVERIFIED`` in their text, so a
reader knows which ones to check before relying on them. Sources used: the USFS Research Data
Archive metadata page of RDS-2020-0016-2 (authors, title, DOI), Overture's attribution page
(ODbL for buildings) and S3 layout, the overturemaps CLI docs, the Census GENZ2023 listing, and
CarbonPlan's ``carbonplan/ocr`` ingest code (download links and archive layouts of the USFS
products, marked as such: a third party's copy of the facts, not the publisher's).

Placeholders in ``prepare``: ``{dest}`` is where the config points, ``put:FILE`` the command that
puts FILE there (``Source.steps`` fills both in for the configured location).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

UNVERIFIED: Final = "(unverified)"
DEST: Final = "{dest}"
PUT: Final = "put:"  # a prepare step that puts the named local file where the config points
# The grid's extent (config/conus.yaml) in lon/lat, widened to whole 0.01 degrees.
CONUS_BBOX: Final = "-128.39,22.42,-64.05,52.49"


@dataclass(frozen=True)
class Citation:
    """How to cite a product; any field may carry ``UNVERIFIED``."""

    authors: str
    year: str
    title: str
    publisher: str
    doi: str

    def text(self) -> str:
        return f"{self.authors} ({self.year}). {self.title}. {self.publisher}. DOI {self.doi}"


@dataclass(frozen=True)
class Source:
    """One input: what it is, where it comes from, what windrisk needs, and how to prepare it."""

    key: str  # under ``inputs``, dotted (``burn_probability.2011``)
    product: str
    citation: Citation
    published_at: tuple[str, ...]
    licence: str
    files: tuple[str, ...]
    crs: str
    units: str
    nodata: str
    prepare: tuple[str, ...]  # commands in order; ``{dest}`` = where the config points
    notes: tuple[str, ...] = ()

    @property
    def config_key(self) -> str:
        return f"inputs.{self.key}"

    def steps(self, location: str) -> list[str]:
        """The preparation commands for a copy at ``location`` (local path, s3:// or https://)."""
        return [
            placement(step.removeprefix(PUT), location) if step.startswith(PUT) else step.replace(DEST, location)
            for step in self.prepare
        ]

    def unverified(self) -> list[str]:
        """Names of the fields that hold a fact marked ``UNVERIFIED``."""
        fields: dict[str, Any] = {
            "citation": self.citation.text(),
            "published_at": self.published_at,
            "licence": self.licence,
            "files": self.files,
            "crs": self.crs,
            "units": self.units,
            "nodata": self.nodata,
            "prepare": self.prepare,
            "notes": self.notes,
        }
        return [name for name, value in fields.items() if UNVERIFIED in str(value)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.config_key,
            "product": self.product,
            "citation": self.citation.text(),
            "published_at": list(self.published_at),
            "licence": self.licence,
            "files": list(self.files),
            "crs": self.crs,
            "units": self.units,
            "nodata": self.nodata,
            "notes": list(self.notes),
            "unverified": self.unverified(),
        }


def put_step(local: str) -> str:
    """The last step of a file's preparation: ``local`` to where the config points (``Source.steps``
    writes the command for the location's scheme)."""
    return f"{PUT}{local}"


def placement(local: str, location: str) -> str:
    """The command that puts the prepared file ``local`` at ``location``."""
    if location.startswith("s3://"):
        return f"aws s3 cp {local} {location}  # credentials from the environment"
    if location.startswith(("https://", "http://")):
        return f"# upload {local} to your web server so that {location} serves it (with ETag or Last-Modified)"
    parent = location.rpartition("/")[0]
    return (f"mkdir -p {parent} && " if parent else "") + f"mv {local} {location}"


def cog_step(src: str, out: str) -> str:
    """A tiled, compressed GeoTIFF (COG), so region jobs read only the blocks of their window,
    also over s3:// or https://. Values, CRS and nodata are kept as published: windrisk reads the
    native grid itself (exact nearest), never a resampled copy."""
    return f"gdal_translate -of COG -co COMPRESS=DEFLATE -co PREDICTOR=YES -co BIGTIFF=IF_SAFER {src} {out}"


# ---- the USFS rasters -----------------------------------------------------------------------
RILEY_2025: Final = Citation(
    authors=f"Riley, Karin L. and others {UNVERIFIED}",
    year="2025",
    title=(
        "Spatial datasets of probabilistic wildfire risk components for the conterminous United States "
        "(270m) for circa 2011 climate and projected future climate circa 2047"
    ),
    publisher="USDA Forest Service Research Data Archive, Fort Collins, CO (RDS-2025-0006)",
    doi=f"10.2737/RDS-2025-0006 {UNVERIFIED}: CarbonPlan's OCR methods cite it; not checked on the USFS page",
)
RILEY_ARCHIVE: Final = "https://usfs-public.box.com/shared/static/h55qel755s97nagdu97ebd4z6fzpp3w1.zip"
SCOTT_2024: Final = Citation(
    authors=(
        "Scott, Joe H.; Dillon, Gregory K.; Jaffe, Melissa R.; Vogler, Kevin C.; Olszewski, Julia H.; "
        "Callahan, Michael N.; Karau, Eva C.; Lazarz, Mitchell T.; Short, Karen C.; Riley, Karin L.; "
        "Finney, Mark A.; Grenfell, Isaac C."
    ),
    year="2024",
    title=(
        "Wildfire Risk to Communities: Spatial datasets of landscape-wide wildfire risk components for "
        "the United States, 2nd edition"
    ),
    publisher="USDA Forest Service Research Data Archive, Fort Collins, CO (RDS-2020-0016-2)",
    doi="10.2737/RDS-2020-0016-2",
)
SCOTT_ZIPS: Final = {
    "CRPS": "https://usfs-public.box.com/shared/static/v1wjt4r3pp0bjb05w8qfnlbm4y3m66q5.zip",
    "RPS": "https://usfs-public.box.com/shared/static/88tv8byot0t22o9p1eqlrfqco3z5ouvf.zip",
}
USFS_LICENCE: Final = (
    f"US Government work, free to use with citation {UNVERIFIED}: read the archive page's use constraints; cite the DOI"
)
ALBERS: Final = "EPSG:5070 (NAD83 / Conus Albers), as published; do not reproject: windrisk reads it in its own CRS"
NODATA_RULE: Final = (
    "tagged as nodata and outside the valid range (a nodata value inside it, e.g. 0, is refused: real "
    "values would be read as missing); the published file's nodata value and data type {UNVERIFIED}: "
    "`windrisk inputs` does not open files, the check_inputs rule reports both"
).replace("{UNVERIFIED}", UNVERIFIED)


def _riley(run: str) -> Source:
    member = f"Data/{run}ClimateRun/BP.tif"
    return Source(
        key=f"burn_probability.{run}",
        product=f"Riley et al. 2025: annual burn probability (BP), circa-{run} climate run, 270 m, CONUS",
        citation=RILEY_2025,
        published_at=(
            "https://www.fs.usda.gov/rds/archive/catalog/RDS-2025-0006",
            f"archive: {RILEY_ARCHIVE} (the link carbonplan/ocr downloads) {UNVERIFIED}",
        ),
        licence=USFS_LICENCE,
        files=(
            (
                f"{member} inside the archive (layout Data/{{2011,2047}}ClimateRun/{{BP,FLP1..FLP6}}.tif, as "
                f"carbonplan/ocr reads it) {UNVERIFIED}; only BP is used"
            ),
        ),
        crs=ALBERS + "; 270 m pixels",
        units="annual burn probability, 1/year, in [0, 1] (values outside are refused, never clipped)",
        nodata=NODATA_RULE,
        prepare=(
            f"curl -L -o RDS-2025-0006.zip {RILEY_ARCHIVE}  # both runs in one archive",
            "unzip -o RDS-2025-0006.zip -d RDS-2025-0006",
            f"SRC=$(find RDS-2025-0006 -path '*/{member}')",
            "gdalinfo $SRC | grep -E 'EPSG|NoData|Type='  # CRS 5070, a nodata value outside [0, 1]",
            cog_step("$SRC", f"BP_{run}ClimateRun.tif"),
            put_step(f"BP_{run}ClimateRun.tif"),
        ),
        notes=(
            (
                "windrisk spreads burn probability into the pixels where BP is 0 (non-burnable land: towns, "
                "farms, water; docs/method.md), so those must hold 0, not nodata. How the archive codes "
                f"non-burnable land (0, or a negative value) {UNVERIFIED}: CarbonPlan's code clips negative "
                "values to 0 after reprojecting, so look at `gdalinfo -stats`; check_inputs refuses values "
                "below 0 and says how many."
            ),
        ),
    )


def _scott(variable: str, units: str, what: str) -> Source:
    return Source(
        key=variable.lower(),
        product=f"Scott et al. 2024 (Wildfire Risk to Communities, 2nd ed.): {what} ({variable}), 30 m, CONUS",
        citation=SCOTT_2024,
        published_at=(
            "https://www.fs.usda.gov/rds/archive/catalog/RDS-2020-0016-2",
            (
                f"RDS-2020-0016-2__{variable}_CONUS.zip: {SCOTT_ZIPS[variable]} (the link carbonplan/ocr "
                f"downloads) {UNVERIFIED}"
            ),
        ),
        licence=USFS_LICENCE,
        files=(f"{variable}_CONUS/{variable}_CONUS.tif inside the zip (as carbonplan/ocr unpacks it) {UNVERIFIED}",),
        crs=ALBERS + "; 30 m pixels",
        units=units,
        nodata=NODATA_RULE,
        prepare=(
            f"curl -L -o {variable}_CONUS.zip {SCOTT_ZIPS[variable]}",
            f"unzip -o {variable}_CONUS.zip -d {variable}_CONUS",
            f"SRC=$(find {variable}_CONUS -name '{variable}_CONUS.tif')",
            "gdalinfo $SRC | grep -E 'EPSG|NoData|Type='  # CRS 5070, a nodata value outside [0, 100]",
            cog_step("$SRC", f"{variable}.tif"),
            put_step(f"{variable}.tif"),
        ),
    )


# ---- CONUS404 -------------------------------------------------------------------------------
CONUS404_ZARR: Final = "s3://hytest/conus404/conus404_hourly.zarr"
OSN_ENDPOINT: Final = "https://usgs.osn.mghpcc.org/"
HOURLY_COPY: Final = (
    "python - <<'EOF'\n"
    "import xarray as xr\n"
    f'src = xr.open_zarr("{CONUS404_ZARR}", storage_options={{"anon": True,\n'
    f'    "client_kwargs": {{"endpoint_url": "{OSN_ENDPOINT}"}}}})\n'
    'keep = ["T2", "TD2", "U10", "V10", "SINALPHA", "COSALPHA"] + (["crs"] if "crs" in src else [])\n'
    "ds = src[keep].drop_encoding()\n"
    'for v in ("SINALPHA", "COSALPHA"):  # static fields: one time step is enough\n'
    '    if "time" in ds[v].dims:\n'
    "        ds[v] = ds[v].isel(time=0, drop=True)\n"
    'ds = ds.chunk({"time": 144, "y": 175, "x": 175})  # HyTEST\'s chunks: whole source chunks per task\n'
    f'ds.to_zarr("{DEST}", mode="w", consolidated=False, zarr_format=3)  # s3://: credentials from the env\n'
    "EOF"
)
CONUS404: Final = Source(
    key="wind.hourly",
    product="CONUS404 (NCAR/USGS WRF reanalysis), hourly 2 m temperature and dew point, 10 m wind, 4 km, 1979-10..2022-10",
    citation=Citation(
        authors=f"Rasmussen, Roy M. and others {UNVERIFIED}",
        year=f"2023 {UNVERIFIED}",
        title=(
            "CONUS404: Four-kilometer long-term regional hydroclimate reanalysis over the conterminous "
            f"United States {UNVERIFIED}; method paper: Rasmussen et al. 2023, BAMS, DOI 10.1175/BAMS-D-21-0326.1"
        ),
        publisher="U.S. Geological Survey data release",
        doi="10.5066/P9PHPK4F",
    ),
    published_at=(
        (
            f"{CONUS404_ZARR} on the S3 endpoint {OSN_ENDPOINT} (USGS HyTEST copy on the Open Storage Network, "
            "anonymous read)"
        ),
    ),
    licence=f"USGS data release, public domain {UNVERIFIED}; cite the DOI",
    files=(
        (
            "from the hourly Zarr store: T2, TD2 (K), U10, V10 (m/s, grid-relative) over (time, y, x), "
            "SINALPHA, COSALPHA (to rotate the winds to earth-relative), the grid-mapping variable `crs` "
            "and the x, y coordinates"
        ),
    ),
    crs=(
        "CONUS404's Lambert conformal conic on a 6,370 km sphere (CF `crs` variable), 1,015 x 1,367 px of 4 km; "
        "windrisk reads the CRS from the store and places the grid from x, y"
    ),
    units="T2, TD2 in K; U10, V10 in m/s (inputs.wind.wind_speed_unit: the unit inside the Fosberg index)",
    nodata="NaN (the Zarr fill value) where a value is missing",
    prepare=(
        "pip install xarray zarr fsspec s3fs dask  # in windrisk's environment they are already there",
        HOURLY_COPY,
    ),
    notes=(
        (
            "windrisk cannot read the OSN copy in place: its S3 settings (store.s3) have no anonymous "
            "reader for another endpoint, so the six variables are copied once into the Zarr the config names."
        ),
        (
            "Size: 4 variables x 376,945 hours x 1,015 x 1,367 px x 4 bytes = about 8.4 TB uncompressed "
            f"(the copy is compressed by Zarr's default codec; its size on disk {UNVERIFIED}). Copying is "
            "network-bound: run it on a machine with a fast link, or on a Dask cluster (a "
            "`dask.distributed.Client` opened before to_zarr); at 1 Gbit/s the uncompressed volume alone "
            "takes about 19 hours."
        ),
        (
            "tests/test_inputs_cli.py runs this copy against a CONUS404-like local store and reads the "
            f"result with windrisk; reading the OSN copy itself is not tested (no network there) {UNVERIFIED}."
        ),
        (
            "Any reanalysis with the same variables, dims (time, y, x) and a CF grid mapping works, e.g. a "
            "few years of CONUS404 for a test (ds.sel(time=slice('2020', '2021')))."
        ),
    ),
)

# ---- Overture buildings ---------------------------------------------------------------------
OVERTURE_RELEASE: Final = "2025-09-24.0"
OVERTURE_PATH: Final = f"s3://overturemaps-us-west-2/release/{OVERTURE_RELEASE}/theme=buildings/type=building/"
OVERTURE_DUCKDB: Final = (
    "duckdb -c \"INSTALL httpfs; LOAD httpfs; SET s3_region='us-west-2'; "
    f"COPY (SELECT id, geometry, bbox FROM read_parquet('{OVERTURE_PATH}*.parquet', hive_partitioning=1) "
    "WHERE bbox.xmin BETWEEN -125.354 AND -66.555 AND bbox.ymin BETWEEN 24.413 AND 49.197) "
    "TO 'buildings_raw.parquet' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)\""
)
# Streams row groups (160 million footprints do not fit in memory): same rows, plus the GeoParquet
# 1.1 metadata naming the bbox column as the covering. Run by tests/test_inputs_cli.py.
OVERTURE_COVERING: Final = (
    "python - <<'EOF'\n"
    "import json\n"
    "import pyarrow.parquet as pq\n"
    'src = pq.ParquetFile("buildings_raw.parquet")\n'
    "meta = src.schema_arrow.metadata or {}\n"
    'geo = json.loads(meta.get(b"geo", b"{}")) or {"primary_column": "geometry",\n'
    '    "columns": {"geometry": {"encoding": "WKB", "geometry_types": []}}}\n'
    'geo["version"] = "1.1.0"\n'
    'geo["columns"][geo["primary_column"]]["covering"] = {\n'
    '    "bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}}\n'
    'schema = src.schema_arrow.with_metadata({**meta, b"geo": json.dumps(geo).encode()})\n'
    'with pq.ParquetWriter("buildings_conus.parquet", schema, compression="zstd") as out:\n'
    "    for batch in src.iter_batches(batch_size=100_000):  # one row group each\n"
    "        out.write_batch(batch)\n"
    "EOF"
)
OVERTURE: Final = Source(
    key="buildings",
    product=f"Overture Maps buildings (theme=buildings, type=building), release {OVERTURE_RELEASE}, CONUS subset",
    citation=Citation(
        authors="Overture Maps Foundation",
        year="2025",
        title=f"Overture Maps buildings theme, release {OVERTURE_RELEASE}",
        publisher="Overture Maps Foundation, overturemaps.org",
        doi="none (cite the release and overturemaps.org)",
    ),
    published_at=(
        f"{OVERTURE_PATH} (AWS us-west-2, anonymous)",
        f"https://overturemapswestus2.blob.core.windows.net/release/{OVERTURE_RELEASE}/theme=buildings/type=building/",
    ),
    licence="ODbL 1.0 (Overture's licence for the buildings theme); some sources ask for their own attribution",
    files=(
        (
            "every *.parquet of the release's type=building folder, rows whose bbox lies in CONUS; columns id, "
            "geometry (WKB polygons), bbox"
        ),
    ),
    crs="EPSG:4326 / OGC:CRS84 (lon/lat)",
    units="footprint polygons; windrisk takes each footprint's centroid",
    nodata="rows without id or geometry are dropped and counted (buildings.max_dropped_fraction)",
    prepare=(
        "pip install duckdb  # pyarrow is in windrisk's environment; or: pip install overturemaps (see notes)",
        OVERTURE_DUCKDB,
        OVERTURE_COVERING,
        put_step("buildings_conus.parquet"),
    ),
    notes=(
        (
            "windrisk needs GeoParquet 1.1 with a bbox covering column and an `id` column: region jobs read "
            "only the row groups whose bbox statistics meet their region. The DuckDB step keeps the release's "
            "rows with their bbox column; the pyarrow step streams them into GeoParquet 1.1 naming that column "
            "as the covering (GDAL >= 3.9 also can: ogr2ogr -lco WRITE_COVERING_BBOX=YES)."
        ),
        (
            "The download commands are not run by windrisk's tests (no network there) "
            f"{UNVERIFIED}; the GeoParquet 1.1 step is (tests/test_inputs_cli.py)."
        ),
        (
            "The CONUS box (-125.354, 24.413, -66.555, 49.197) is the one CarbonPlan's published run used; "
            "rows outside the grid are counted, not lost silently."
        ),
        (
            f"Alternative to DuckDB: overturemaps download --bbox={CONUS_BBOX} -f geoparquet --type=building "
            f"-o buildings_raw.parquet (it takes the latest release unless told otherwise {UNVERIFIED}; pin "
            f"{OVERTURE_RELEASE} for a reproducible run)."
        ),
        (
            f"Size: about 160 million CONUS buildings; tens of GB {UNVERIFIED}. The DuckDB subset took about "
            "14 minutes on a c8g.2xlarge in CarbonPlan's run."
        ),
    ),
)

# ---- Census boundaries ----------------------------------------------------------------------
GENZ2023: Final = "https://www2.census.gov/geo/tiger/GENZ2023/shp/"


def _census(level: str, name: str) -> Source:
    archive = f"cb_2023_us_{name}_500k.zip"
    return Source(
        key=f"boundaries.{level}",
        product=f"US Census Bureau cartographic boundary file, {level}, 2023, 1:500,000",
        citation=Citation(
            authors="U.S. Census Bureau",
            year="2023",
            title=f"2023 Cartographic Boundary File (SHP), {name.title()}, 1:500,000",
            publisher="U.S. Census Bureau, Geography Division (GENZ2023)",
            doi="none (cite the file name and URL)",
        ),
        published_at=(f"{GENZ2023}{archive}", "https://www2.census.gov/geo/tiger/GENZ2023/description.pdf"),
        licence=f"US Government work, public domain {UNVERIFIED}",
        files=(f"{archive} (a zipped shapefile; GDAL reads it in place as /vsizip/)",),
        crs=f"NAD83 geographic (EPSG:4269) {UNVERIFIED}; NAD83 and WGS 84 differ by 1-2 m in CONUS",
        units="polygons with GEOID, STATEFP, NAME and the other Census attributes",
        nodata="not applicable (vector)",
        prepare=(f"curl -L -o {archive} {GENZ2023}{archive}", put_step(archive)),
        notes=(
            (
                "Read by the summaries rule (per county and state) and by `windrisk regions --state/--county`; "
                "optional: without both boundary files the summaries are not made."
            ),
        ),
    )


SOURCES: Final = (
    _riley("2011"),
    _riley("2047"),
    _scott(
        "CRPS",
        "% (conditional loss of a generic structure if it burns), in [0, 100]",
        "conditional risk to potential structures",
    ),
    _scott(
        "RPS",
        "% per year (burn probability x CRPS), in [0, 100]; kept as a check variable",
        "risk to potential structures",
    ),
    CONUS404,
    Source(
        key="wind.distribution",
        product="A ready 8-band fire-weather wind-direction distribution (instead of wind.hourly)",
        citation=Citation(
            authors="windrisk",
            year="-",
            title="wind_direction_distribution.tif from an earlier run's wind_distribution rule",
            publisher="this workflow",
            doi="none",
        ),
        published_at=("results/wind/wind_direction_distribution.tif of a run with inputs.wind.hourly",),
        licence="as the hourly data it was derived from",
        files=("wind/wind_direction_distribution.tif under that run's `results`",),
        crs="the hourly store's CRS (CONUS404: Lambert conformal), north-up",
        units="fractions of fire-weather hours in 8 bands N, NE, E, SE, S, SW, W, NW (wind from); sum to 1",
        nodata="NaN where a pixel has no fire-weather hours",
        prepare=(
            "# run the workflow once with inputs.wind.hourly, then keep its distribution:",
            "cp results/wind/wind_direction_distribution.tif wind_direction_distribution.tif",
            put_step("wind_direction_distribution.tif"),
        ),
        notes=("Set exactly one of inputs.wind.hourly and inputs.wind.distribution.",),
    ),
    OVERTURE,
    _census("states", "state"),
    _census("counties", "county"),
)
SOURCE_BY_KEY: Final = {source.key: source for source in SOURCES}


def location_keys(inputs: Mapping[str, Any], node: Mapping[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Dotted keys of the input *locations* in a config's ``inputs`` section: the leaves the schema
    types as ``#/$defs/location``, alone or as an optional one (so parameters such as
    ``wind.wind_speed_unit`` are not inputs)."""
    from windrisk.config import schema

    node = node if node is not None else schema()["properties"]["inputs"]
    keys = []
    for name, value in inputs.items():
        sub = node.get("properties", {}).get(name, {})
        if "#/$defs/location" in [sub.get("$ref"), *(option.get("$ref") for option in sub.get("oneOf", ()))]:
            keys.append(prefix + name)
        elif isinstance(value, Mapping):
            keys += location_keys(value, sub, prefix + name + ".")
    return keys


def uncatalogued(inputs: Mapping[str, Any], node: Mapping[str, Any] | None = None) -> list[str]:
    """Input locations a config's ``inputs`` section sets that the catalogue has no entry for."""
    return [key for key in location_keys(inputs, node) if key not in SOURCE_BY_KEY]


def location_of(inputs: Mapping[str, Any], key: str) -> str | None:
    """The location a config's ``inputs`` section gives for a dotted key, or None when it sets none."""
    node: Any = inputs
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return str(node) if node else None


def markdown(source: Source, location: str | None) -> str:
    """A source as a section of ``docs/inputs.md``; steps for ``location`` when given."""
    lines = [f"### `{source.config_key}`", "", f"**{source.product}**", ""]
    facts = (
        ("Citation", source.citation.text()),
        ("Published at", "; ".join(source.published_at)),
        ("Licence", source.licence),
        ("Take", "; ".join(source.files)),
        ("CRS", source.crs),
        ("Units", source.units),
        ("Nodata", source.nodata),
    )
    lines += [f"- **{name}:** {value}" for name, value in facts]
    where = f"`{location}`" if location else f"the location `{DEST}` the config names"
    lines += ["", f"Prepare it for {where}:", "", "```bash", *source.steps(location or DEST), "```"]
    if source.notes:
        lines += ["", *[f"- {note}" for note in source.notes]]
    return "\n".join(lines) + "\n"
