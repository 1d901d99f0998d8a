"""``verify``: a converted folder checked against its metadata, one idea per module.

``command`` (the command line, and ``verify()`` putting the checks together), ``metadata`` (what
there is to verify), ``shards`` (each shard read once) with ``record_checks`` (each record against
Slim's format), ``folder`` (labels.txt, the shards' names, TFDS's files), ``splits`` (each split's
totals), ``mixing`` (how shuffled the shards are inside), ``inputs`` (``--check-archives``), ``report``
(what it prints) and ``reading`` (whole files through Beam's filesystems, with progress).
"""
