"""imagenet-convert: ILSVRC2012 downloads to TF-Slim TFRecords on Apache Beam."""

__version__ = "0.1.0"
