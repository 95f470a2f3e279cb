"""Export: pure JAX functions -> TFLite -> ONNX -> OpenVINO IR (whole model, encoder, decoder), INT8 and FP16
variants, Open Model Zoo's demo interface, verification against JAX, and CPU timing. The route needs TensorFlow,
tf2onnx and NNCF, so nothing of inference/ or training/ imports this package. Importing it keeps OpenVINO's usage
statistics off unless the user opted in (`consent`)."""
from vtn_jax.export import consent

consent.keep_off_unless_opted_in()
