"""What readers of the output rely on, with no Beam and no TensorFlow: file names, the Slim record
schema and its framing, DALI index files and TFDS metadata."""
