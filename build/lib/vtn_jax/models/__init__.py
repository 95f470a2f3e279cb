"""The network: per-frame 2D CNN encoders, the self-attention decoder, the VTN that joins them, its costs,
and the mapping from the authors' PyTorch weights. Imports nothing of the rest of vtn_jax."""
