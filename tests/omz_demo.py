"""Runs Open Model Zoo's action_recognition_demo (Python) from a checkout, unmodified, in float32, and writes the
probabilities it rendered (for tests/test_export_omz.py; not a test module).

    python omz_demo.py OMZ_DIR OUT.json DEMO_ARGS...

The demo's own script runs as __main__ (runpy) with DEMO_ARGS: its argument parsing, models, pipeline and
renderer. Around it, none of it in the demo's code:
  * sys.path: <omz>/demos/common/python/model_zoo first, so that its `model_api` is the demo's own and not a
    pip-installed openvino-model-api (on the command line PYTHONPATH does the same);
  * openvino.Core compiles for the CPU in f32 (the demo compiles at the CPU's default precision: bf16 on CPUs with
    AMX or AVX-512-bf16);
  * the probabilities its decoder step hands the renderer are recorded with the render index, and at the end of
    the input the capture waits until the render thread has taken the queued frames (the demo's pipeline drops
    the frames still queued when it closes).
"""
import json
import pathlib
import runpy
import sys
import threading


def main():
    omz, out, demo_args = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
    demo_dir = omz / 'demos' / 'action_recognition_demo' / 'python'
    common = omz / 'demos' / 'common' / 'python'
    sys.path[:0] = [str(demo_dir), str(common), str(common / 'model_zoo')]
    import openvino

    class F32Core(openvino.Core):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.set_property('CPU', {'INFERENCE_PRECISION_HINT': 'f32'})

    openvino.Core = F32Core
    import images_capture
    from action_recognition_demo import result_renderer

    records, rendered = [], threading.Condition()
    render_frame = result_renderer.ResultRenderer.render_frame

    def recording_render_frame(self, frame, probs, *args):
        with rendered:
            records.append([args[1], None if probs is None else [float(p) for p in probs]])  # args[1]: frame_ind
            rendered.notify_all()
        return render_frame(self, frame, probs, *args)

    open_capture = images_capture.open_images_capture
    frames_read = [0]

    def open_waiting_capture(*args, **kwargs):
        capture = open_capture(*args, **kwargs)
        read = capture.read

        def read_or_wait():
            frame = read()
            if frame is None:
                with rendered:  # until every frame but the ones still in the models' requests is rendered
                    while len(records) < frames_read[0] - 1 and rendered.wait(timeout=5):
                        pass
            else:
                frames_read[0] += 1
            return frame
        capture.read = read_or_wait
        return capture

    result_renderer.ResultRenderer.render_frame = recording_render_frame
    images_capture.open_images_capture = open_waiting_capture
    script = demo_dir / 'action_recognition_demo.py'
    sys.argv = [str(script)] + demo_args
    try:
        runpy.run_path(str(script), run_name='__main__')
        status = 0
    except SystemExit as e:
        status = e.code
    out.write_text(json.dumps({'status': status, 'frames_read': frames_read[0], 'renders': records}))


if __name__ == '__main__':
    main()
