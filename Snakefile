# windrisk: wind-informed wildfire risk for every building.
#   1. inputs -> wind calc per region -> one Icechunk store     (rules/wind.smk)
#   2. store -> building-centroid risk per region -> GeoParquet (rules/buildings.smk)
#   3. region files -> one CONUS GeoParquet                     (rules/buildings.smk)
#   4. CONUS GeoParquet -> PMTiles and a map page, with a basemap (rules/tiles.smk)
#      and building risk per county and state                   (rules/summaries.smk)
# Config: config/config.yaml (demo, the default) or --configfile config/conus.yaml.


# The demo config is the default; a --configfile replaces it rather than being merged into it.
if not workflow.config_settings.configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


include: "rules/common.smk"


wildcard_constraints:
    region_id=r"y\d+_x\d+",
    group="|".join(inputs.GROUPS),
    digest=r"[0-9a-f]{16}",


include: "rules/inputs.smk"
include: "rules/demo.smk"
include: "rules/wind.smk"
include: "rules/buildings.smk"
include: "rules/summaries.smk"
include: "rules/tiles.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        # Per-region outputs are targets themselves so that deleting one is noticed.
        expand(PATHS.region_sentinel_pattern, region_id=REGIONS),
        expand(PATHS.region_buildings_pattern, region_id=REGIONS),
        PATHS.conus_buildings,
        PATHS.pmtiles,
        PATHS.map_page,
        PATHS.basemap_pmtiles,
        PATHS.gazetteer,
        PATHS.fonts_dir,
        list(SUMMARIES.values()) if HAS_BOUNDARIES else [],
        PATHS.summary_pmtiles if HAS_BOUNDARIES else [],
        report_targets(),
