r"""Trains and evaluates a VTN: `python train.py --config configs/tiny.py --workdir runs/tiny`.

The same command is installed as `vtn-train`; `--help` lists every flag (vtn_jax/tools/train.py).
"""
from vtn_jax.tools import train

if __name__ == '__main__':
    train.run()
