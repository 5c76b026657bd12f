"""One module per DVC stage, each run as `python -m benchmark.stages.<name>` with paths and matrix keys only."""
