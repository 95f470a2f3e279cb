"""Video data: decoding files (video_io), live capture from cameras, network streams and files played in real
time (live, with a loopback MJPEG server in mjpeg), generated datasets (synthetic), split files of the public
datasets (split_files), TFDS builders (tfds_builders), the tf.data training/evaluation pipeline (input_pipeline)
and the numpy preprocessing shared by streaming, dense inference and export (frames). Only `tfds_builders` and
`input_pipeline` import TensorFlow; nothing here imports the rest of vtn_jax but its error type (errors)."""
