"""vtn_jax: the Video Transformer Network (VTN) for real-time action recognition in JAX/Flax."""
