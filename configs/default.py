r"""Paper settings: ResNet-34-VTN, RGB, 16 frames at stride 2, 224x224 crops, Kinetics-400 sized head.

Train (on a dataset built as in the README):
    python train.py --config configs/default.py --workdir runs/r34_rgb \
            --config.data.name=video_folder --config.data.data_dir=/data/tfds

Every other config file imports this one and changes a few fields.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the paper's configuration (paper section 4.1)."""
    config = ml_collections.ConfigDict()

    # ---- Model: passed as VTN(**config.model); a misspelt key fails there. ----
    config.model = ml_collections.ConfigDict()
    # resnet18 | resnet34 | resnet50 | mobilenetv2 | se_resnext101_32x4d | resnet_tiny
    config.model.encoder = 'resnet34'
    config.model.modality = 'rgb'  # rgb | rgbdiff | stacked (see docs/models.md "Modalities")
    config.model.num_classes = 400  # Kinetics-400
    config.model.num_frames = 16  # frames in one input clip (T); rgbdiff and stacked decode T - 1 steps
    config.model.embed_dim = 512  # d: frame embedding width; a 1x1 "reduce" maps other trunk widths to it
    config.model.num_layers = 4  # decoder blocks (paper: 4 is best)
    config.model.num_heads = 8  # attention heads, d_k = d_v = embed_dim / num_heads
    config.model.ffn_dim = 1024  # position-wise feed-forward hidden width
    config.model.attention_scale = 'model'  # 'model': 1/sqrt(d) as the reference; 'head': 1/sqrt(d_k) as the paper
    config.model.dropout_rate = 0.1  # after attention and after the feed-forward (reference)
    config.model.attention_dropout_rate = 0.1  # on the attention probabilities (reference)
    config.model.dtype = 'float32'  # compute dtype: float32 | bfloat16 (params, softmax, logits stay float32)

    # ---- Data: read by vtn_jax.data.input_pipeline. ----
    config.data = ml_collections.ConfigDict()
    config.data.name = 'synthetic_actions'  # TFDS builder: synthetic_actions | video_folder
    config.data.builder_config = ''  # TFDS builder config name ('' = the builder's default)
    config.data.data_dir = 'data_cache/tfds'  # where TFDS datasets are built and read
    config.data.train_split = 'train'  # TFDS split used for training
    config.data.eval_split = 'test'  # TFDS split used for validation / evaluation
    config.data.num_frames = 16  # frames per clip (must equal model.num_frames)
    config.data.stride = 2  # temporal stride: 16 frames cover 32 (paper)
    config.data.crop_size = 224  # spatial input side
    config.data.train_scales = (1.0, 0.875, 0.75, 0.66)  # multi-scale crop: side = shorter side * s
    config.data.crop_placement = 'uniform'  # training crop position: 'uniform' | 'authors' (their 13 offsets)
    config.data.horizontal_flip = True  # random horizontal flip in training (never vertical)
    # Evaluation crop (vtn_jax.data.frames.Preprocessing): 'paper' (central 224 of the 256 short side) | 'authors'
    # (their validation and test transform: short side resized to 224, central 224 square; what their
    # checkpoints were validated with). Streaming, the whole-video pass and the export record it too.
    config.data.eval_crop = 'paper'
    # RGB normalisation after x / 255, read by training, evaluation, streaming and export. It must be what the
    # encoder's checkpoints were trained with (vtn_jax.models.pretrained.NORMALIZATION; tests/test_configs.py).
    config.data.mean = (0.485, 0.456, 0.406)  # ImageNet RGB mean
    config.data.std = (0.229, 0.224, 0.225)  # ImageNet RGB std
    config.data.shuffle_buffer = 256  # examples in the training shuffle buffer

    # ---- Optimiser: Adam + L2 weight decay (PyTorch Adam semantics), LR / 10 on plateau. ----
    config.optim = ml_collections.ConfigDict()
    config.optim.learning_rate = 1e-4  # paper 4.1
    config.optim.b1 = 0.9  # Adam beta1 (paper)
    config.optim.b2 = 0.999  # Adam beta2 (PyTorch default)
    config.optim.eps = 1e-8  # Adam epsilon (PyTorch default)
    config.optim.weight_decay = 1e-4  # L2 added to the gradient before Adam, as torch.optim.Adam(weight_decay=...)
    # LR cut on a plateau with torch's ReduceLROnPlateau semantics (vtn_jax.training.state.Plateau): the LR is
    # multiplied by `factor` when more than `patience` evaluations in a row did not improve the metric.
    config.optim.plateau_metric = 'loss'  # validation metric watched: 'loss' (paper) | 'clip_top1' (authors)
    config.optim.plateau_mode = 'min'  # 'min' for the loss, 'max' for an accuracy
    config.optim.plateau_factor = 0.1  # LR multiplier at a plateau
    config.optim.plateau_patience = 10  # evaluations without improvement tolerated (a cut at the 11th)
    config.optim.plateau_patience_epochs = 0.0  # > 0: patience in epochs instead (evaluations = epochs * evals/epoch)
    config.optim.plateau_threshold = 1e-4  # what counts as an improvement (torch's default)
    config.optim.plateau_threshold_mode = 'rel'  # 'rel': beyond best * (1 -/+ threshold); 'abs': best -/+ threshold
    config.optim.plateau_cooldown = 0  # evaluations to wait after a cut
    config.optim.plateau_min_lr = 0.0  # the LR never goes below this
    config.optim.plateau_eps = 1e-8  # a cut smaller than this is skipped (torch's eps)
    config.optim.grad_clip_norm = 0.0  # global-norm gradient clipping; 0 disables

    # ---- Training loop. ----
    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 32  # global batch (divided over all devices)
    config.train.eval_batch_size = 32  # global evaluation batch
    config.train.num_train_steps = 100_000  # total optimisation steps (about 13 Kinetics-400 epochs at batch 32)
    config.train.num_train_epochs = 0.0  # > 0: train this many epochs instead (steps/epoch = videos // batch)
    config.train.eval_every_steps = 2_000  # validation (and plateau update) period
    config.train.eval_every_epochs = 0.0  # > 0: validate every this many epochs instead
    # 'segments' (the paper's Video@1: every non-overlapping 32-frame segment) | 'uniform10' (the authors' test
    # loop: 10 evenly spaced clips per video) | 'clip' (central clip) | 'dense' (each frame encoded once,
    # the 'segments' metrics)
    config.train.eval_mode = 'segments'
    config.train.log_every_steps = 50  # metrics fetched from the device this often
    config.train.checkpoint_every_steps = 1_000  # periodic checkpoint
    config.train.max_to_keep = 2  # periodic checkpoints kept (the best one is kept separately)
    config.train.seed = 0  # parameter init (also a command's random weights: no checkpoint), dropout, data order
    # Weights to start from: an ImageNet .pth for the encoder (the paper's init; for this encoder torchvision's
    # resnet34-b627a593.pth: vtn_jax.models.pretrained.IMAGENET_SOURCES), or a whole reference VTN .pth / .npz.
    # '' = random init, which the trainer warns about loudly for every paper-sized encoder.
    config.train.init_checkpoint = ''
    config.train.init_new_head = False  # with init_checkpoint: keep a fresh classifier (another class count)
    config.train.max_data_errors = 100  # data errors tolerated (each counted and reported) before the run stops
    config.train.prefetch = 2  # batches read and sent to the devices ahead of the running step (0: none)

    # ---- Knowledge distillation from the frozen two-stream (RGB + RGB-diff) teacher. ----
    config.distill = ml_collections.ConfigDict()
    config.distill.enabled = False  # add the KD term to the loss
    config.distill.temperature = 8.0  # T (reference)
    config.distill.weight = 0.4  # w: loss = CE + w * T^2 * KL(teacher || student) (reference)
    config.distill.teacher_encoder = ''  # teacher trunk ('' = the student's model.encoder)
    config.distill.rgb_checkpoint = ''  # trained RGB teacher stream: workdir or reference .pth/.npz
    config.distill.motion_checkpoint = ''  # trained RGB-diff teacher stream: workdir or reference .pth/.npz

    return config
