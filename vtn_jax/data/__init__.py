"""Video data: decoding files (video_io), live capture from cameras, network streams and files played in real
time (live, with a loopback MJPEG server in mjpeg), class-name files (class_names), generated datasets (synthetic,
two_cue), split files of the public datasets (split_files), the TFDS builders and the per-video work of a build
(tfds_builders, video_builds), the tf.data training/evaluation pipeline (input_pipeline, with the authors'
sampling and crops as TF ops in authors_ops), the preprocessing record shared by streaming, dense inference and
export (frames) and the rendered video with known labels (labelled_video). Only `tfds_builders`, `input_pipeline`,
`authors_ops` and `labelled_video` (through tfds_builders) import TensorFlow (or TFDS); nothing here imports the
rest of vtn_jax but `vtn_jax.logs` and `vtn_jax.errors`."""
