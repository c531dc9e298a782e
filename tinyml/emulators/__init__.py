"""Emulators that run firmware: qemu, renode."""
