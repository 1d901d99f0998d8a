"""The conversion plan: which image goes to which shard, with its label and boxes.

Built once from a layout's catalogue (the archives' headers or the folders' listing, the devkit and
the box XML) in ``build.py``, then saved in the output folder by ``store.py``, so any worker on any
machine writes its shard from the saved plan and a rerun resumes without indexing again. What a plan
holds is ``model.py``; how a split's images are dealt to shards, ``sharding.py``.
"""
