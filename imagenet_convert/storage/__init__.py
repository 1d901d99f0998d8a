"""Where bytes go and come from: the atomic output folder, the direct-I/O file for local shards, and
exact ranged reads from S3 and GCS."""
