"""The per-video machinery of a dataset build, shared by the local and the Beam generation of
`vtn_jax.data.tfds_builders`: loading videos in parallel and in order (`map_ordered`), what becomes of one video
(example or report row) and how a split's rows become its metadata (lengths in storage order, bad and truncated
videos). No TensorFlow: Beam workers import it.
"""
import collections
import functools
import json
import logging
import multiprocessing
from concurrent import futures
from typing import Callable, Iterator, Sequence

import cv2
from etils import epath

from vtn_jax.data import video_io

_LOG = logging.getLogger(__name__)


def map_ordered(fn: Callable, items: Sequence, num_workers: int, *, processes: bool = False) -> Iterator:
    """Yields fn(item) for each item, in order, computing up to 2 * num_workers ahead.

    Threads by default: OpenCV decoding, resizing and JPEG encoding release the GIL. With `processes`, fn runs in
    num_workers spawned worker processes (fn and the items must pickle; OpenCV one thread each), for builds whose
    Python-side work would otherwise hold one core. The bounded window keeps memory at a few decoded videos
    instead of the whole dataset.
    """
    num_workers = max(1, num_workers)
    if processes:
        pool = futures.ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context('spawn'),
                                           initializer=cv2.setNumThreads, initargs=(1,))
    else:
        pool = futures.ThreadPoolExecutor(num_workers)
    window = collections.deque()
    with pool:
        for item in items:
            window.append(pool.submit(fn, item))
            if len(window) >= 2 * num_workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def examine_video(index: int, item: Sequence, outcome: tuple, *, split: str, min_frames: int) -> tuple:
    """One build item's fate: (example or None, report row).

    Args:
        index: the item's index in the split's storage order (its video_id).
        item: (name, label, ...).
        outcome: (load(item) or None, VideoReadError or None); a load returns the JPEG frames, or (JPEG frames,
            the container's frame count) to have truncation checked.
        split: split name.
        min_frames: fewer decodable frames leave the video out (it cannot give a clip).
    """
    result, error = outcome
    name, label = str(item[0]), item[1]
    frames, header = result if isinstance(result, tuple) else (result, 0)
    row = {'index': index, 'split': split, 'path': name, 'frames': len(frames) if frames is not None else 0,
           'header_frames': header, 'reason': ''}
    if error is not None:
        row.update(reason=error.reason, frames=error.frames_read)
    elif len(frames) < min_frames:
        cut = f'truncated ({len(frames)} of {header} frames), ' if video_io.is_truncated(len(frames), header) else ''
        row['reason'] = f'{cut}too short: {len(frames)} frames < min_frames={min_frames}'
    if row['reason']:
        return None, row
    return {'video': frames, 'label': label, 'video_id': index, 'name': name}, row


def _write_rows(rows: list, path: str) -> None:
    """Beam side output: a split's report rows, read back by VideoFolder._download_and_prepare."""
    epath.Path(path).write_text(json.dumps(sorted(rows, key=lambda r: r['index'])))


def summarize_rows(split: str, rows: Sequence[dict]) -> tuple[list, list, list]:
    """(lengths of the kept videos in storage order, bad videos, truncated videos kept) of a split's rows."""
    lengths, bad, truncated = [], [], []
    for row in sorted(rows, key=lambda r: r['index']):
        if row['reason']:
            _LOG.warning('[%s] bad video: %s: %s', split, row['path'], row['reason'])
            bad.append({'split': split, 'path': row['path'], 'reason': row['reason'], 'frames_read': row['frames']})
            continue
        lengths.append(row['frames'])
        if video_io.is_truncated(row['frames'], row['header_frames']):
            _LOG.warning('[%s] truncated video kept: %s: %d of %d frames', split, row['path'], row['frames'],
                         row['header_frames'])
            truncated.append({'split': split, 'path': row['path'], 'frames_read': row['frames'],
                              'header_frames': row['header_frames']})
    return lengths, bad, truncated


def beam_examples(items: Sequence, load: Callable, *, split: str, min_frames: int, rows_path: str):
    """A beam.PTransform yielding (video_id, example) for the items that load, as the local build does; the
    report rows of every item are written to `rows_path` (JSON) by the same pipeline."""
    from apache_beam import combiners, Create, FlatMap, Map, ptransform_fn
    examine = functools.partial(examine_video, split=split, min_frames=min_frames)

    def examine_item(indexed):
        index, item = indexed
        return examine(index, item, video_io.catch_read_error(load, item))

    def transform(pipeline):
        outcomes = pipeline | 'Items' >> Create(list(enumerate(items))) | 'Load' >> Map(examine_item)
        _ = (outcomes | 'Rows' >> Map(lambda outcome: outcome[1]) | 'AllRows' >> combiners.ToList()
             | 'WriteRows' >> Map(_write_rows, path=rows_path))
        return outcomes | 'Kept' >> FlatMap(
            lambda outcome: [(outcome[1]['index'], outcome[0])] if outcome[0] is not None else [])

    return ptransform_fn(transform)()
