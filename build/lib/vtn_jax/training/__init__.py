"""Training: the train state (optimiser, plateau rule), losses, the loop with checkpoints and resumption,
evaluation on TFDS splits, and decoder-only training from an embedding cache. Uses inference, never the reverse."""
