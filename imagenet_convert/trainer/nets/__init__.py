"""The Slim networks that ``tf_slim.nets`` does not ship, one module per family.

Each module defines builders with Slim's signature (``logits, end_points = build(images, num_classes,
is_training, ...)``, with a ``default_image_size`` attribute) and an arg scope taking ``weight_decay``
(and ``batch_norm_decay`` where the family has batch norm), creating the variables Slim's own code
creates, under the same names, so Slim's checkpoints load. ``trainer.nets_factory`` maps Slim's model
names onto them.
"""
