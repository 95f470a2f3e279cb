"""Video data: decoding files (video_io), generated datasets (synthetic, two_cue), split files of the public
datasets (split_files), TFDS builders (tfds_builders), the tf.data training/evaluation pipeline (input_pipeline),
the numpy preprocessing shared by streaming, dense inference and export (frames) and the rendered video with
known labels (labelled_video). Only `tfds_builders`, `input_pipeline` and `labelled_video` (through
tfds_builders) import TensorFlow; nothing here imports the rest of vtn_jax but its logs and errors."""
