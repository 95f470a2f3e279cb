"""Timelines of a whole-video result: JSON and CSV rows, empty cells in the warm-up."""
import numpy as np

from inference_helpers import build, make_video
from vtn_jax.inference import jax_backend
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.inference import timeline
from vtn_jax.inference import whole_video


def test_timeline_json_and_csv(tiny_config, tmp_path):
    config, model, variables = build(tiny_config, 'rgb')
    backend = jax_backend.JaxBackend(model, variables)
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    frames = np.stack([recognizer.preprocess(f) for f in make_video(40)])
    result = whole_video.dense_video_logits(backend.encode, backend.decode, frames, recognizer.clip)
    names = [f'n{i}' for i in range(8)]
    timeline.write_timeline(tmp_path / 't.json', result, names, fps=10.0, k=2)
    timeline.write_timeline(tmp_path / 't.csv', result, names, fps=10.0, k=2)
    import json
    doc = json.loads((tmp_path / 't.json').read_text())
    assert len(doc['frames']) == 40 and doc['frames'][13]['top'] == [] and len(doc['frames'][14]['top']) == 2
    assert doc['frames'][20]['time_s'] == 2.0 and len(doc['segments']) == 2 and len(doc['video_top']) == 2
    best = int(np.nanargmax(result.frame_logits[20]))
    assert doc['frames'][20]['top'][0]['label'] == names[best]
    rows = (tmp_path / 't.csv').read_text().splitlines()
    assert rows[0] == 'frame,time_s,label1,prob1,label2,prob2' and len(rows) == 41
    assert rows[14].startswith('13,1.300,,') and rows[21].startswith(f'20,2.000,{names[best]},')
