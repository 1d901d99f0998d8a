"""TF-Slim's train, eval and export scripts for today's TensorFlow, on the converted shards.

Each command module (``train``, ``evaluate``, ``export``) imports TensorFlow itself, so importing this
package stays free of it.
"""
