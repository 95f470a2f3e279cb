"""vtn_jax: the Video Transformer Network (VTN) for real-time action recognition, in JAX/Flax.

    from vtn_jax import Recognizer
    rec = Recognizer.from_export('artifacts/r34')       # or Recognizer.from_checkpoint('tiny', 'runs/tiny')
    for step in rec.stream('video.mp4'): print(step.frame_index, step.top)

Rooms, each importing only those below it: tools (the vtn-* commands) -> export, training -> inference ->
checkpoints -> models, data.
"""
__version__ = '0.2.0'
__all__ = ['Recognizer', '__version__']


def __getattr__(name):
    """`vtn_jax.Recognizer` on first use (PEP 562), so that importing a submodule (a command's --help, say) does
    not load the inference stack."""
    if name == 'Recognizer':
        from vtn_jax.inference.api import Recognizer
        return Recognizer
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
