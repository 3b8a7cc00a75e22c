"""Subcommands of ``gpu-render``: one module each (see ``gpu_render.cli``)."""
