"""The conversion on a Flink cluster through its Beam job server (preset: pipelines/presets.py).

    python -m pipelines.flink --input s3://B/imagenet --output s3://B/imagenet-tfrecord \\
        --job_endpoint HOST:8099 --environment_config IMAGE

See docs/scale-out.md for the job server and the worker image.
"""

from pipelines.presets import run_with_preset

if __name__ == "__main__":
    raise SystemExit(run_with_preset("flink"))
