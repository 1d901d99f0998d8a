"""Write ``slim_logits.json``: the golden logits of ``tests.support.golden_values``, computed with TF-Slim's
own nets.

Run once, by hand, in a scratch copy of Slim's model code kept outside the project (the project has
its own implementations; this is what they are checked against)::

    PYTHONPATH=/work/main .venv/bin/python tests/goldens/make_goldens.py /tmp/slim-ref/nets

Rebuilding ``/tmp/slim-ref/nets``:

1. Take the folder ``workloads/slim/src/nets/`` of github.com/darchr/ml-tools (commit eaf27fe9, last
   changed there in 5648cdd2, 2019-04-04): TF-Slim's ``research/slim/nets`` from tensorflow/models as
   the seed's Slim fork carries it, with ``vgg_416`` added. The nets used are ``nets_factory.py``,
   ``__init__.py``, alexnet, cifarnet, overfeat, vgg, lenet, inception (``inception.py``,
   ``inception_utils.py``, ``inception_v1..v4.py``, ``inception_resnet_v2.py``), ``resnet_utils.py``,
   ``resnet_v1.py``, ``resnet_v2.py``, ``mobilenet_v1.py``, ``mobilenet/`` (``__init__.py``,
   ``mobilenet.py``, ``mobilenet_v2.py``, ``conv_blocks.py``) and ``nasnet/`` (``__init__.py``,
   ``nasnet.py``, ``nasnet_utils.py``, ``pnasnet.py``). That factory imports only these.
2. Scratch patches for TensorFlow 2.21 and tf_slim 1.1, none of which changes a computation:
   in every module ``import tensorflow as tf`` becomes ``import tensorflow.compat.v1 as tf``, and
   ``nets/__init__.py`` (empty in Slim) imports ``imagenet_convert.trainer.compat`` (the ``ops.Tensor``
   alias tf_slim needs) and sets ``tensorflow.compat.v1.contrib`` to a namespace whose ``slim``,
   ``framework.arg_scope``/``add_arg_scope``, ``layers.l2_regularizer``/``variance_scaling_initializer``/
   ``flatten``/``softmax`` are tf_slim's and whose ``training.HParams`` is a small attribute bag with
   ``set_hparam`` (NASNet's only use of it).
3. Batch norm needs ``updates_collections=None`` on TF 2.21; ``slim_get_network_fn`` below applies
   ``imagenet_convert.trainer.compat.without_batch_norm_update_collections`` to each arg scope of Slim's
   factory, as the project's factory does. An inference graph only reads the moving statistics, so the
   logits are the same.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imagenet_convert.trainer import compat
from tests.support import golden_values

OUTPUT = Path(__file__).with_name("slim_logits.json")
SOURCE = (
    "github.com/darchr/ml-tools workloads/slim/src/nets (commit eaf27fe974160459c630836e587c8f817ab101d2; "
    "folder last changed in 5648cdd27d5ccaf7386c9ef43050b4156ed2f6c2, 2019-04-04): TF-Slim's "
    "tensorflow/models research/slim/nets as carried by the seed's fork (adds vgg_416)"
)


def slim_get_network_fn(nets_dir: Path) -> Callable[..., Any]:
    """Slim's own ``nets_factory.get_network_fn`` from ``nets_dir``, its arg scopes patched for batch norm.

    Slim's modules import each other as ``nets.*``, so the folder's parent goes on ``sys.path``.
    """
    if not (nets_dir / "nets_factory.py").is_file():
        raise SystemExit(f"{nets_dir} holds no nets_factory.py")
    sys.path.insert(0, str(nets_dir.resolve().parent))
    factory = importlib.import_module("nets.nets_factory")

    def patched(arg_scope: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(arg_scope)
        def scope(**kwargs: Any) -> dict[str, Any]:
            return compat.without_batch_norm_update_collections(arg_scope(**kwargs))

        return scope

    for name, arg_scope in factory.arg_scopes_map.items():
        factory.arg_scopes_map[name] = patched(arg_scope)
    return factory.get_network_fn


def rounded(values: np.ndarray) -> list[list[float]]:
    """Seven significant digits: float32's precision, so the JSON holds nothing the run did not."""
    return [[float(f"{value:.7g}") for value in row] for row in values.tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nets_dir", type=Path, help="the scratch copy of Slim's nets/ folder")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    import tensorflow as tf

    get_network_fn = slim_get_network_fn(args.nets_dir)
    goldens: dict[str, list[list[float]]] = {}
    for name in golden_values.GOLDEN_MODELS:
        values = golden_values.logits(get_network_fn, name)
        if not np.all(np.isfinite(values)):
            raise SystemExit(f"{name}: logits not finite")
        goldens[name] = rounded(values)
        print(f"{name}: max |logit| {np.abs(values).max():.4g}", flush=True)
    about = (
        f"Logits of tests.support.golden_values.logits(get_network_fn, name) with TF-Slim's own "
        f"get_network_fn and nets, made by tests/goldens/make_goldens.py (its docstring says how to rebuild "
        f"the reference) on {datetime.date.today().isoformat()} with TensorFlow {tf.__version__} and tf_slim "
        f"{importlib.metadata.version('tf_slim')}, CPU. Source: {SOURCE}."
    )
    document = {
        "about": about,
        "num_classes": golden_values.NUM_CLASSES,
        "batch": golden_values.BATCH,
        "logits": goldens,
    }
    args.output.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
