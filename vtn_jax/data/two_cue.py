"""Synthetic action videos whose class needs both an appearance cue and a motion cue (`two_cue`).

Each of the 12 classes is (appearance, motion), label = appearance * NUM_MOTIONS + motion:

    appearance  0 discs (red)   1 bars (green)   2 checks (blue)     a static pattern, any single frame
    motion      0 still   1 move   2 rotate   3 blink                what the mover does, only across frames

    0 discs_still   1 discs_move   2 discs_rotate   3 discs_blink
    4 bars_still    5 bars_move    6 bars_rotate    7 bars_blink
    8 checks_still  9 checks_move  10 checks_rotate 11 checks_blink

Motions: `still` nothing changes; `move` a horizontal translation over 35..55% of the width, right or left at
random; `rotate` 3..6 degrees per frame, either sense at random; `blink` the mover's contrast swings between
full and 50..70% lower with a 10..20-frame period. They are kinds of motion, not directions: a direction
(right vs left, clockwise vs anticlockwise) was not learnt by the tiny VTN in 2000 steps, neither from RGB
differences nor stacked (52% within a kind, chance 50%; docs/ablation.md), while the kind was (97-99%).

Which pairs each input can separate: labels of the same motion (0 / 4 / 8, ...) differ only in appearance, so
an RGB-difference model cannot tell them apart (their difference frames are identical); labels of the same
appearance (0 / 1 / 2 / 3, ...) differ only in motion, so a model that sees single frames cannot (a frame's
distribution is the same for every motion). Only a model that sees both (stacked, or the two-stream teacher)
can get all 12; RGB alone is at best 1/4 (one of the 4 classes of the appearance it sees), RGB-diff at best 1/3.

Layout of a frame (rows; B = band_rows(height) = round(height / 4), 16 for 64-pixel frames):

    rows [0, B)         top band     the APPEARANCE cue: a static pattern (a row of discs, vertical bars
                                     or a two-row checkerboard) in a saturated colour of the appearance's
                                     hue (red, green, blue +- 20 degrees) over the background.
    rows [B, H - B)     mover zone   the MOTION cue: one striped rectangle (synthetic.py's shape) on the
                                     background; its whole rotated outline stays inside these rows and
                                     inside the frame at every angle, so it is never cut off.
    rows [H - B, H)     bottom band  the same appearance pattern, with its own phase.

Why a single frame shows the appearance and nothing of the motion: the bands never change (rendered once,
rounded once, copied into every frame; the per-frame noise is added to the mover zone only), and the mover's
state at a random frame has the same distribution for every motion: x, the angle and the contrast each have a
drawn trajectory (linear, linear, periodic); the one the motion changes follows it and the others take its value
at a random instant (synthetic.py's trick), so a still mover looks like a frame of a moving, turning or blinking
one. The mover's look is drawn independently of the class.

Why difference frames show the motion and nothing of the appearance: the bands are constant (differences
exactly 0) and the mover zone does not depend on the appearance. Two videos drawn with the same
(seed, index) and different labels (`make_spec_pair`) share every random draw: an appearance-only pair has
identical difference frames byte for byte, a motion-only pair identical bands. Stored as JPEG (the TFDS
builder), this stays true except in the row either side of a band edge when B is a multiple of 16 (a 4:2:0
MCU: heights 64, 128, 256); at other heights the JPEG blocks straddle band and zone, so prefer 64.

A left-right mirror keeps the class (the patterns are mirror-symmetric up to their phase, the motions have a
random direction): MIRROR_CLASSES is the identity, and so is time reversal.

Every random number is drawn whatever the label, from generators split per purpose: deterministic in
(seed, index). `difficulty` in [0, 1] raises the noise, lowers the contrast of the mover and the pattern and
shortens the motion. `make_labelled_stream` renders one long video of consecutive classes with the label of
every frame (the quickstart's video with a known answer). Pure numpy.
"""
import colorsys
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from vtn_jax.data import synthetic

APPEARANCES = ('discs', 'bars', 'checks')
MOTIONS = ('still', 'move', 'rotate', 'blink')
NUM_APPEARANCES = len(APPEARANCES)
NUM_MOTIONS = len(MOTIONS)
CLASS_NAMES = tuple(f'{a}_{m}' for a in APPEARANCES for m in MOTIONS)
NUM_CLASSES = len(CLASS_NAMES)
MAX_CLASSES = NUM_CLASSES  # synthetic.py's name, so the TFDS builder can use either module
# Hue (degrees) of each appearance's pattern colour, jittered by up to CUE_HUE_JITTER: the ranges never overlap.
CUE_HUES = (0.0, 120.0, 240.0)
CUE_HUE_JITTER = 20.0
# The class of a left-right mirrored video (for the training flip): the same class, see above.
MIRROR_CLASSES = tuple(range(NUM_CLASSES))
MIN_SIDE = 24  # smallest frame height (and width) for which the mover fits its zone
_SUPERSAMPLE = 4  # subpixels per pixel side when drawing the (antialiased) band patterns
_STREAM_KEY = 0x57AE  # the `index` of a labelled stream's generators
# The known-label stream's classes, each once: consecutive segments change the motion only (0 -> 1), the
# appearance only (1 -> 5), or both (11 -> 6), so its per-segment table shows how fast each kind of change is seen.
STREAM_ORDER = (0, 1, 5, 9, 10, 2, 3, 7, 4, 8, 11, 6)
DATASET_DESCRIPTION = ('Synthetic two-cue action videos: the class is a static pattern in two bands (discs, bars, '
                       'checks) times what a striped shape does (still, move, rotate, blink); single frames show '
                       'only the pattern, differences only the motion.')


def class_names(num_classes: int = NUM_CLASSES) -> Tuple[str, ...]:
    """The 12 class names '<appearance>_<motion>' in label order (`num_classes`, as in synthetic.py, must be
    12: a subset would unbalance the cues)."""
    if num_classes != NUM_CLASSES:
        raise ValueError(f'two_cue has exactly {NUM_CLASSES} classes, got num_classes={num_classes}')
    return CLASS_NAMES


def class_cues(label: int) -> Tuple[int, int]:
    """(appearance, motion) indices of `label` (names: APPEARANCES[a], MOTIONS[m])."""
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f'two_cue label must be in [0, {NUM_CLASSES}), got {label}')
    return label // NUM_MOTIONS, label % NUM_MOTIONS


def band_rows(height: int) -> int:
    """Height B of each appearance band (rows [0, B) and [H - B, H)); the mover zone is the rest.

    B = H / 4 keeps >= 0.16 H band rows in every square crop of side >= 0.66 H (the training crops), 24 of 56
    rows in the central 0.875 evaluation crop at H = 64, and is a multiple of 16 for H = 64, 128, 256.
    """
    return int(round(height / 4))


def _check_size(height: int, width: int):
    if height < MIN_SIDE or width < max(MIN_SIDE, (height + 1) // 2):
        raise ValueError(f'two_cue frames must be at least {MIN_SIDE} high and max({MIN_SIDE}, height / 2) wide, '
                         f'got {height}x{width}')


def _check_difficulty(difficulty: float):
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f'difficulty must be in [0, 1], got {difficulty}')


# ---------------------------------------------------------------------------------------------
# Random draws. None depends on the label: videos of different classes with the same (seed, index) share all.
# ---------------------------------------------------------------------------------------------


def sample_cue(rng: np.random.Generator, difficulty: float = 0.0) -> dict:
    """The appearance pattern's draws, as unit numbers that every appearance maps to its own pattern
    (`cue_pattern`), so appearance-only pairs share them.

    Returns:
        dict of floats: 'hue' in [-1, 1] (jitter), 'value', 'period', 'fill', 'phase_top', 'phase_bottom'
        in [0, 1) and 'alpha' (pattern opacity).
    """
    return {
        'hue': float(rng.uniform(-1, 1)),
        'value': float(rng.uniform(0.85, 1.0)),
        'period': float(rng.uniform(0, 1)),
        'fill': float(rng.uniform(0, 1)),
        'phase_top': float(rng.uniform(0, 1)),
        'phase_bottom': float(rng.uniform(0, 1)),
        'alpha': 1.0 - 0.5 * difficulty,
    }


def sample_mover(rng: np.random.Generator, height: int, difficulty: float = 0.0) -> dict:
    """The mover's look, independent of the class: one dark and one light stripe colour (grey plus a little
    colour, so it stands out on any background and is never as saturated as a band pattern).

    Returns:
        dict: 'colours' (2, 3) float32, 'size' (half-length of the long side, pixels), 'aspect' (short / long
        side), 'stripe_period' (in long half-sides), 'stripe_phase' (synthetic.draw_shape's `look`).
    """
    zone = height - 2 * band_rows(height)
    dark = rng.uniform(0, 70) + rng.uniform(-25, 25, size=3)
    light = rng.uniform(185, 255) + rng.uniform(-25, 25, size=3)
    colours = np.clip(np.stack([dark, light]), 0, 255)
    colours = 128 + (1.0 - 0.6 * difficulty) * (colours - 128)
    if rng.uniform() < 0.5:
        colours = colours[::-1]
    return {
        'colours': colours.astype(np.float32),
        'size': float(zone * rng.uniform(0.25, 0.36)),
        'aspect': float(rng.uniform(0.35, 0.55)),
        'stripe_period': float(rng.uniform(0.3, 0.6)),
        'stripe_phase': float(rng.uniform(0, 2 * np.pi)),
    }


def mover_limits(height: int, width: int, mover: dict) -> Tuple[float, float, float, float]:
    """(x_lo, x_hi, y_lo, y_hi): centres in these ranges keep the whole mover, at any angle, at least one
    pixel inside the zone and the frame (R = size * sqrt(1 + aspect^2) holds it at every angle)."""
    b, radius = band_rows(height), mover['size'] * float(np.hypot(1.0, mover['aspect']))
    return radius + 1, width - radius - 1, b + radius + 1, height - b - radius - 1


def contrast_at(phase, depth):
    """The blinking mover's contrast at `phase` (radians): 1 at phase 0, 1 - depth half a period later."""
    return 1.0 - depth * (0.5 - 0.5 * np.cos(phase))


def sample_trajectory(rng: np.random.Generator, motion: int, num_frames: int, height: int, width: int,
                      mover: dict, difficulty: float = 0.0) -> Dict[str, np.ndarray]:
    """The mover's per-frame state for motion class `motion` (0 still, 1 move, 2 rotate, 3 blink).

    The same numbers are drawn for every motion: x, the angle and the contrast each get a trajectory; the one
    the motion changes follows it, the others take its value at a random instant (so do all three for still).

    Returns:
        dict of (T,) float64 arrays: 'x', 'y' (centre, pixels), 'size', 'angle' (radians, positive =
        clockwise on screen since y points down) and 'contrast' (the stripe colours' distance from grey, as a
        fraction of the drawn one). y and size are constant.
    """
    t = np.arange(num_frames, dtype=np.float64)
    t_mid = (num_frames - 1) / 2.0
    frames = max(num_frames - 1, 1)
    amount = 1.0 - 0.5 * difficulty
    x_lo, x_hi, y_lo, y_hi = mover_limits(height, width, mover)
    # Translation: 35..55% of the width over the video (less if the zone is narrow), centred so that the
    # whole trajectory keeps the mover inside [x_lo, x_hi]; right or left.
    travel = min(rng.uniform(0.35, 0.55) * width, x_hi - x_lo) * amount * rng.choice([-1.0, 1.0])
    centre_x = rng.uniform(x_lo + abs(travel) / 2, x_hi - abs(travel) / 2)
    y = rng.uniform(y_lo, y_hi)
    spin = np.deg2rad(rng.uniform(3.0, 6.0)) * amount * frames * rng.choice([-1.0, 1.0])  # 3..6 degrees a frame
    angle0 = rng.uniform(0, 2 * np.pi)
    period, phase0, depth = rng.uniform(10.0, 20.0), rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 0.7) * amount
    instants = rng.integers(num_frames, size=3)
    trajectories = {'x': centre_x + travel * (t - t_mid) / frames,
                    'angle': angle0 + spin * (t - t_mid) / frames,
                    'contrast': contrast_at(phase0 + 2 * np.pi * t / period, depth)}
    changing = {1: 'x', 2: 'angle', 3: 'contrast'}.get(motion)
    state = {k: v if k == changing else np.full(num_frames, v[i]) for (k, v), i in zip(trajectories.items(), instants)}
    return {**state, 'y': np.full(num_frames, y), 'size': np.full(num_frames, mover['size'])}


# ---------------------------------------------------------------------------------------------
# Rendering.
# ---------------------------------------------------------------------------------------------


def cue_colour(appearance: int, cue: dict) -> np.ndarray:
    """The pattern's RGB colour (3,) float: full saturation, the appearance's hue +- jitter."""
    hue = (CUE_HUES[appearance] + CUE_HUE_JITTER * cue['hue']) % 360.0
    return 255.0 * np.array(colorsys.hsv_to_rgb(hue / 360.0, 1.0, cue['value']))


def cue_pattern(appearance: int, cue: dict, band: int, width: int, phase: float) -> np.ndarray:
    """Coverage (band, width) in [0, 1] of one band's pattern (antialiased by supersampling).

    Sizes are in units of the band height B: discs of radius 0.30..0.38 B every 1.3..1.8 B on the band's
    midline; full-height bars 0.35..0.55 of a 0.9..1.4 B period; a checkerboard of two rows of cells B / 2
    high and 0.5..0.75 B wide. Each is mirror-symmetric up to its phase.
    """
    s = _SUPERSAMPLE
    yy, xx = (np.mgrid[0:band * s, 0:width * s].astype(np.float64) + 0.5) / s
    name = APPEARANCES[appearance]
    if name == 'discs':
        period = band * (1.3 + 0.5 * cue['period'])
        radius = band * (0.30 + 0.08 * cue['fill'])
        dx = ((xx / period - phase + 0.5) % 1.0 - 0.5) * period
        inside = dx ** 2 + (yy - band / 2) ** 2 < radius ** 2
    elif name == 'bars':
        period = band * (0.9 + 0.5 * cue['period'])
        inside = (xx / period - phase) % 1.0 < 0.35 + 0.2 * cue['fill']
    else:  # checks
        period = band * (1.0 + 0.5 * cue['period'])
        inside = ((xx / period - phase) % 1.0 < 0.5) ^ (yy < band / 2)
    return inside.reshape(band, s, width, s).mean(axis=(1, 3))


def static_image(background: np.ndarray, appearance: int, cue: dict) -> np.ndarray:
    """The background with the appearance pattern painted into both bands: (H, W, 3) float32."""
    height, width = background.shape[:2]
    b = band_rows(height)
    image = background.astype(np.float32).copy()
    colour = cue_colour(appearance, cue)
    for rows, phase in ((slice(0, b), cue['phase_top']), (slice(height - b, height), cue['phase_bottom'])):
        cover = (cue['alpha'] * cue_pattern(appearance, cue, b, width, phase))[..., None]
        image[rows] = cover * colour + (1 - cover) * image[rows]
    return image


def render_frames(static: np.ndarray, mover: dict, state: Dict[str, np.ndarray], noise_std: float = 0.0,
                  noise: Optional[np.ndarray] = None) -> np.ndarray:
    """Draws each frame from a static image, the mover's look and state, and zone noise.

    The bands are `static` rounded once and copied: identical in every frame. The mover is drawn into the
    zone rows only (synthetic.draw_shape on the zone's pixel grid, its colours pulled towards grey by the
    state's contrast), each frame independently of the others.

    Args:
        static: (H, W, 3) float, from `static_image`.
        mover: from `sample_mover`.
        state: (T,) arrays from `sample_trajectory`.
        noise_std: scale of `noise`.
        noise: (T, H - 2B, W, 3) standard normal noise for the zone rows, or None for none.

    Returns:
        (T, H, W, 3) uint8 RGB frames.
    """
    height, width = static.shape[:2]
    b = band_rows(height)
    frames = np.empty((len(state['x']), height, width, 3), np.uint8)
    static_u8 = np.clip(static, 0, 255).round().astype(np.uint8)
    frames[:, :b] = static_u8[:b]
    frames[:, height - b:] = static_u8[height - b:]
    zone_bg = static[b:height - b].astype(np.float32)
    yy, xx = np.mgrid[b:height - b, 0:width].astype(np.float32) + 0.5
    for i in range(len(state['x'])):
        look = {**mover, 'colours': 128 + state['contrast'][i] * (mover['colours'] - 128)}
        zone = synthetic.draw_shape(zone_bg, yy, xx, look, state['x'][i], state['y'][i], state['size'][i],
                                    state['angle'][i])
        if noise is not None:
            zone = zone + noise_std * noise[i]
        frames[i, b:height - b] = np.clip(zone, 0, 255).round().astype(np.uint8)
    return frames


def spec_static_image(spec: dict) -> np.ndarray:
    """`static_image` of a spec: its background with its appearance's pattern, (H, W, 3) float32."""
    return static_image(spec['background'], spec['appearance'], spec['cue'])


def spec_noise(spec: dict) -> np.ndarray:
    """The spec's zone noise, (T, H - 2B, W, 3) float32 standard normal, from its noise seed."""
    b = band_rows(spec['height'])
    return np.random.default_rng(spec['noise_seed']).standard_normal(
        (spec['num_frames'], spec['height'] - 2 * b, spec['width'], 3), dtype=np.float32)


def render_video(spec: dict, *, noise: bool = True) -> np.ndarray:
    """Renders a spec from `sample_video_spec`: (T, H, W, 3) uint8 RGB (noise=False: without the noise)."""
    return render_frames(spec_static_image(spec), spec['mover'], spec['state'], spec['noise_std'],
                         spec_noise(spec) if noise else None)


# ---------------------------------------------------------------------------------------------
# Videos and streams.
# ---------------------------------------------------------------------------------------------


def sample_video_spec(index: int, *, seed: int, num_frames: Union[int, Tuple[int, int]] = (40, 80),
                      height: int = 64, width: int = 64, difficulty: float = 0.0, label: Optional[int] = None,
                      num_classes: int = NUM_CLASSES) -> dict:
    """Draws everything that defines video number `index`, without rendering it.

    Args:
        index: video number (>= 0).
        seed: dataset seed; (seed, index) determines every random draw.
        num_frames: fixed length, or an inclusive (min, max) range to draw the length from.
        height: frame height (>= MIN_SIDE; a multiple of 64 keeps the bands clean through JPEG).
        width: frame width (>= max(MIN_SIDE, height / 2)).
        difficulty: in [0, 1].
        label: None for the dataset's label, index % 12 (any 12 consecutive indices are balanced); another
            label renders the same draws as that class (`make_spec_pair`).
        num_classes: must be 12 (synthetic.py's signature).

    Returns:
        dict: 'label', 'appearance', 'motion', 'num_frames', 'height', 'width', 'background' ((H, W, 3)
        float32), 'cue' (sample_cue), 'mover' (sample_mover), 'state' (sample_trajectory), 'noise_std' and
        'noise_seed'; render_video(spec) is the video.
    """
    _check_difficulty(difficulty)
    _check_size(height, width)
    class_names(num_classes)
    label = index % NUM_CLASSES if label is None else int(label)
    appearance, motion = class_cues(label)
    length_rng, background_rng, cue_rng, mover_rng, motion_rng, noise_rng = synthetic.split_rngs(seed, index, 6)
    if isinstance(num_frames, (int, np.integer)):
        length = int(num_frames)
    else:
        length = int(length_rng.integers(num_frames[0], num_frames[1] + 1))
    if length < 2:
        raise ValueError(f'two_cue videos need at least 2 frames, got num_frames={num_frames}')
    mover = sample_mover(mover_rng, height, difficulty)
    return {
        'label': label, 'appearance': appearance, 'motion': motion, 'num_frames': length,
        'height': height, 'width': width,
        'background': synthetic.sample_background(background_rng, height, width),
        'cue': sample_cue(cue_rng, difficulty),
        'mover': mover,
        'state': sample_trajectory(motion_rng, motion, length, height, width, mover, difficulty),
        'noise_std': 4.0 + 36.0 * difficulty,
        'noise_seed': int(noise_rng.integers(2 ** 63)),
    }


def make_spec_pair(index: int, *, seed: int, labels: Tuple[int, int], **kwargs) -> Tuple[dict, dict]:
    """Two specs of video `index` that share every random draw but show labels[0] and labels[1].

    Labels of the same motion (e.g. 0 and 4): the videos differ only in the bands and their difference frames
    are identical. Labels of the same appearance (e.g. 0 and 2): identical bands, only the mover's trajectory
    differs. kwargs as `sample_video_spec`.
    """
    return tuple(sample_video_spec(index, seed=seed, label=label, **kwargs) for label in labels)


def make_video(index: int, *, seed: int, num_frames: Union[int, Tuple[int, int]] = (40, 80), height: int = 64,
               width: int = 64, num_classes: int = NUM_CLASSES, difficulty: float = 0.0) -> Tuple[np.ndarray, int]:
    """Video number `index`: (frames (T, H, W, 3) uint8 RGB, label = index % 12). Arguments as
    `sample_video_spec`; the signature of synthetic.make_video."""
    spec = sample_video_spec(index, seed=seed, num_frames=num_frames, height=height, width=width,
                             difficulty=difficulty, num_classes=num_classes)
    return render_video(spec), spec['label']


def make_labelled_stream(labels: Sequence[int], *, segment_frames: Union[int, Sequence[int]], seed: int,
                         height: int = 64, width: int = 64, difficulty: float = 0.0, return_info: bool = False):
    """One long video whose consecutive segments show the given classes, with the label of every frame.

    One background, pattern draw and mover for the whole stream. At a segment boundary the bands switch to the
    new appearance (unchanged if it is the same) and the mover starts its new motion from its current state
    (position, angle and blink phase; one ordinary step across the cut). A translation heads for the side
    with more room and runs slower if needed, down to half its drawn speed; if even that does not fit, the
    mover jumps back (the only discontinuity, listed in info['jumps']).

    Args:
        labels: class of each segment.
        segment_frames: frames per segment (>= 2), one int for all or one per segment.
        seed: stream seed.
        height, width, difficulty: as `sample_video_spec`.
        return_info: also return a dict with 'state' ((N,) arrays), 'background', 'cue', 'mover',
            'segment_starts' and 'jumps' (indices of the segments that started with a jump).

    Returns:
        (frames (N, H, W, 3) uint8 RGB, frame_labels (N,) int64) [, info].
    """
    _check_difficulty(difficulty)
    _check_size(height, width)
    labels = [int(k) for k in labels]
    for k in labels:
        class_cues(k)
    lengths = ([int(segment_frames)] * len(labels) if np.ndim(segment_frames) == 0
               else [int(n) for n in segment_frames])
    if len(lengths) != len(labels) or min(lengths, default=2) < 2:
        raise ValueError(f'segment_frames must be >= 2, one value or one per label; got {segment_frames}')
    background_rng, cue_rng, mover_rng, motion_rng, noise_rng = synthetic.split_rngs(seed, _STREAM_KEY, 5)
    background = synthetic.sample_background(background_rng, height, width)
    cue = sample_cue(cue_rng, difficulty)
    mover = sample_mover(mover_rng, height, difficulty)
    noise_std, amount = 4.0 + 36.0 * difficulty, 1.0 - 0.5 * difficulty
    depth = motion_rng.uniform(0.5, 0.7) * amount
    x_lo, x_hi, y_lo, y_hi = mover_limits(height, width, mover)
    x, y = motion_rng.uniform(x_lo, x_hi), motion_rng.uniform(y_lo, y_hi)
    angle, phase = motion_rng.uniform(0, 2 * np.pi), motion_rng.uniform(0, 2 * np.pi)
    statics, pieces, states, jumps, starts = {}, [], [], [], []
    for segment, (label, length) in enumerate(zip(labels, lengths)):
        appearance, motion = class_cues(label)
        step = np.arange(1, length + 1, dtype=np.float64)
        # Drawn for every segment whatever its motion, like a video's travel, spin and blink period.
        speed = motion_rng.uniform(0.35, 0.55) * width / 60.0 * amount  # pixels per frame
        spin = np.deg2rad(motion_rng.uniform(3.0, 6.0)) * amount * motion_rng.choice([-1.0, 1.0])  # per frame
        blink = 2 * np.pi / motion_rng.uniform(10.0, 20.0)  # radians of blink phase per frame
        xs, angles, phases = np.full(length, x), np.full(length, angle), np.full(length, phase)
        if motion == 1:
            sign = 1.0 if x_hi - x >= x - x_lo else -1.0
            room = (x_hi - x) if sign > 0 else (x - x_lo)
            if room < 0.5 * speed * length:  # too slow to see: jump back to where it fits
                x = float(np.clip(x_hi - speed * length if sign > 0 else x_lo + speed * length, x_lo, x_hi))
                jumps.append(segment)
                room = (x_hi - x) if sign > 0 else (x - x_lo)
            xs = x + sign * min(speed, room / length) * step
        elif motion == 2:
            angles = angle + spin * step
        elif motion == 3:
            phases = phase + blink * step
        x, angle, phase = float(xs[-1]), float(angles[-1]), float(phases[-1])
        state = {'x': xs, 'y': np.full(length, y), 'size': np.full(length, mover['size']), 'angle': angles,
                 'contrast': contrast_at(phases, depth)}
        if appearance not in statics:
            statics[appearance] = static_image(background, appearance, cue)
        noise = noise_rng.standard_normal((length, height - 2 * band_rows(height), width, 3), dtype=np.float32)
        starts.append(sum(lengths[:segment]))
        pieces.append(render_frames(statics[appearance], mover, state, noise_std, noise))
        states.append(state)
    frames = np.concatenate(pieces) if pieces else np.zeros((0, height, width, 3), np.uint8)
    frame_labels = np.repeat(np.asarray(labels, np.int64), lengths)
    if not return_info:
        return frames, frame_labels
    info = {'state': ({k: np.concatenate([s[k] for s in states]) for k in states[0]} if states else {}),
            'background': background, 'cue': cue, 'mover': mover, 'segment_starts': starts, 'jumps': jumps}
    return frames, frame_labels, info
