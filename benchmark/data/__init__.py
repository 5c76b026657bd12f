"""Data the pipeline renders, reads or writes: the procedural world, real-dataset adapters, shard IO."""
