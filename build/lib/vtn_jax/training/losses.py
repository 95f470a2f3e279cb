"""Losses in float32: softmax cross-entropy and the distillation term (Hinton et al.)."""
import jax
import jax.numpy as jnp
import optax


def cross_entropy_loss(logits, labels):
    """Mean softmax cross-entropy in float32."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()


def distillation_loss(student_logits, teacher_logits, temperature: float):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch (Hinton et al.)."""
    t = temperature
    teacher_log_probs = jax.nn.log_softmax(teacher_logits.astype(jnp.float32) / t)
    student_log_probs = jax.nn.log_softmax(student_logits.astype(jnp.float32) / t)
    kl = jnp.sum(jnp.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return t * t * kl.mean()
