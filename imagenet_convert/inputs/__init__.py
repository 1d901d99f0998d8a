"""Reading the downloads where they lie: the layouts users hold ILSVRC2012 in (``layouts/``, one small
file each) and the readers beneath them: archives, devkit, box XML and image headers."""
