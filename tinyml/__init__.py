"""tinyml: take a Keras model to a Cortex-M microcontroller and prove it there."""

__version__ = "0.1.0"
