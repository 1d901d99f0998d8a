"""The conversion on Google Cloud Dataflow (preset: pipelines/presets.py; how-to: docs/scale-out.md).

    python -m pipelines.dataflow --input gs://B/imagenet --output gs://B/imagenet-tfrecord \\
        --project P --region R --temp_location gs://B/tmp --sdk_container_image IMAGE
"""

from pipelines.presets import run_with_preset

if __name__ == "__main__":
    raise SystemExit(run_with_preset("dataflow"))
