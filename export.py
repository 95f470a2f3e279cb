r"""Exports a VTN to ONNX and OpenVINO IR, verifies and optionally times it:
`python export.py --config configs/default.py --checkpoint runs/r34 --output artifacts/r34`.

The same command is installed as `vtn-export`; `--help` lists every flag (vtn_jax/tools/export.py).
"""
from vtn_jax.tools import export

if __name__ == '__main__':
    export.run()
