"""Runtimes that execute the model on the MCU: aot (generated C) and tflm."""
