"""Helpers the tests share: the real CLI in a subprocess, loopback services, damaged copies, datasets."""
