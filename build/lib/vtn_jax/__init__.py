"""vtn_jax: the Video Transformer Network (VTN) for real-time action recognition, in JAX/Flax.

    from vtn_jax import Recognizer
    rec = Recognizer.from_export('artifacts/r34')       # or Recognizer.from_checkpoint('tiny', 'runs/tiny')
    for step in rec.stream('video.mp4'): print(step.frame_index, step.top)

Rooms, each importing only those below it: tools (the vtn-* commands) -> export, training -> inference ->
checkpoints -> models, data.
"""
from vtn_jax.inference.api import Recognizer

__version__ = '0.2.0'
__all__ = ['Recognizer', '__version__']
