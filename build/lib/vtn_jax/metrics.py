"""Evaluation metrics: Clip@k over single clips and Video@k over per-video averaged clip logits (the paper's
protocol). Pure numpy on host-side arrays; padded examples are dropped through their mask, so every clip
and every video counts exactly once.
"""
import numpy as np


def topk_correct(logits_NC: np.ndarray, labels_N: np.ndarray, k: int) -> np.ndarray:
    """Boolean [N]: the label is among the k highest logits (ties broken by the lower class index)."""
    k = min(k, logits_NC.shape[-1])
    topk = np.argsort(-logits_NC, axis=-1, kind='stable')[:, :k]
    return np.any(topk == labels_N[:, None], axis=-1)


def cross_entropy(logits_NC: np.ndarray, labels_N: np.ndarray) -> np.ndarray:
    """Per-example softmax cross-entropy in float64."""
    z = logits_NC.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -log_probs[np.arange(len(labels_N)), labels_N]


class EvalAccumulator:
    """Collects (logits, label, video_id, mask) batches and computes clip and video metrics.

    Video@k averages the logits of all of a video's clips (segments), as the reference's test loop does,
    then takes the top-k; a video whose clips disagree on the label is an error.
    """

    def __init__(self):
        self._logits, self._labels, self._videos = [], [], []

    def add(self, logits, labels, video_ids, mask):
        mask = np.asarray(mask, bool)
        self._logits.append(np.asarray(logits, np.float32)[mask])
        self._labels.append(np.asarray(labels)[mask].astype(np.int64))
        self._videos.append(np.asarray(video_ids)[mask].astype(np.int64))

    @property
    def num_clips(self) -> int:
        return int(sum(len(x) for x in self._labels))

    def video_logits(self):
        """Returns (video ids [V], averaged logits [V, C], labels [V]) in ascending video id order."""
        logits, labels, videos = (np.concatenate(x) for x in (self._logits, self._labels, self._videos))
        ids, inverse = np.unique(videos, return_inverse=True)
        sums = np.zeros((len(ids), logits.shape[-1]), np.float64)
        np.add.at(sums, inverse, logits)
        counts = np.bincount(inverse, minlength=len(ids))
        video_labels = np.full(len(ids), -1, np.int64)
        video_labels[inverse] = labels
        if np.any(video_labels[inverse] != labels):
            bad = ids[np.unique(inverse[video_labels[inverse] != labels])]
            raise ValueError(f'videos {bad.tolist()[:10]} have clips with different labels')
        return ids, sums / counts[:, None], video_labels

    def compute(self) -> dict[str, float]:
        if not self.num_clips:
            raise ValueError('no evaluation examples: the split is empty or every example was masked')
        logits, labels = np.concatenate(self._logits), np.concatenate(self._labels)
        ids, video_logits, video_labels = self.video_logits()
        return {
            'loss': float(cross_entropy(logits, labels).mean()),
            'clip_top1': float(topk_correct(logits, labels, 1).mean()),
            'clip_top5': float(topk_correct(logits, labels, 5).mean()),
            'video_top1': float(topk_correct(video_logits, video_labels, 1).mean()),
            'video_top5': float(topk_correct(video_logits, video_labels, 5).mean()),
            'num_clips': float(len(labels)),
            'num_videos': float(len(ids)),
        }


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[num_classes, num_classes] int64 counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def per_class_report(matrix: np.ndarray, class_names) -> dict:
    """Per-class accuracy (recall) and counts from a confusion matrix, JSON-ready."""
    totals = matrix.sum(axis=1)
    return {'classes': [{'class': name, 'videos': int(totals[i]),
                         'accuracy': float(matrix[i, i] / totals[i]) if totals[i] else None}
                        for i, name in enumerate(class_names)],
            'confusion_matrix': matrix.tolist(), 'rows': 'true class', 'columns': 'predicted class'}
