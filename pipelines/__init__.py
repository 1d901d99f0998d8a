"""Runnable Beam entry points; every transform they use lives in ``imagenet_convert``."""
