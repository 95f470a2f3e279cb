"""Inference: the online recognizer (one encoder pass per frame), the whole-video pass (a label for every
frame, Video@1 from every frame encoded once), timelines, the two backends (JAX, OpenVINO), and the clips
OpenVINO Model API must be given (`model_api`). Imports neither TensorFlow nor anything of training/ or export/;
the OpenVINO path needs only OpenVINO, OpenCV and numpy."""
