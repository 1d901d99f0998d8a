"""The conversion on the local runner: `python -m pipelines.convert_imagenet --input ... --output ...`.

Same options as `python -m imagenet_convert run`; any Beam option (`--runner ...`) passes through.
"""

from pipelines.presets import run_with_preset

if __name__ == "__main__":
    raise SystemExit(run_with_preset("local"))
