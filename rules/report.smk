# Run report (snakemake --report): quick-looks per region, a CONUS overview, score histogram.


def report_targets():
    return []
