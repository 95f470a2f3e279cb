"""Export: pure JAX functions -> TFLite -> ONNX -> OpenVINO IR (whole model, encoder, decoder), INT8 and FP16
variants, verification against JAX, and CPU timing. The route needs TensorFlow, tf2onnx and NNCF, so nothing of
inference/ or training/ imports this package."""
