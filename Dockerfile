# windrisk's runtime image: envs/windrisk.yaml resolved from conda-forge/PyPI, then windrisk
# itself installed as a wheel built from this checkout. For `coiled: {container: ...}` in the
# workflow config, or Slurm nodes without the project's virtualenv (apptainer pulls it):
#   docker build -t windrisk:0.1.0 . && docker push <registry>/windrisk:0.1.0
FROM mambaorg/micromamba:2.0.5
COPY --chown=$MAMBA_USER:$MAMBA_USER envs/windrisk.yaml /tmp/windrisk.yaml
RUN micromamba install --yes --name base --file /tmp/windrisk.yaml && micromamba clean --all --yes
ARG MAMBA_DOCKERFILE_ACTIVATE=1
COPY --chown=$MAMBA_USER:$MAMBA_USER . /tmp/windrisk-src
# --no-deps: every dependency came from the environment above.
RUN pip install --no-cache-dir --no-deps /tmp/windrisk-src && rm -rf /tmp/windrisk-src \
    && python -c "import windrisk, snakemake, icechunk, rasterio, freestiler"
