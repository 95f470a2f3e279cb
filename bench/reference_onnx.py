r"""Exports the authors' own PyTorch ResNet-34-VTN to ONNX, to time it beside ours (`--compare_onnx`).

    python bench/reference_onnx.py --reference_dir <checkout>/pytorch_toolkit/action_recognition \
        --output /tmp/reference_r34.onnx
    python bench/openvino_latency.py --export artifacts/r34 --threads 2 --compare_onnx /tmp/reference_r34.onnx

`--reference_dir` is a user's checkout of opencv/openvino_training_extensions (commit d014ee02); nothing of it is
in this repository. The model is built by the reference's own `VideoTransformer` (ResNet-34 trunk, 16 frames,
400 classes, 224x224, LayerNorm, random weights: speed does not depend on them), put in eval mode and exported
with `torch.onnx.export` (TorchScript exporter, opset 17, batch 1, input [1, 16, 3, 224, 224]), as the
reference's `--onnx` option does. Needs torch (`pip install torch==2.13.0`).
"""
import argparse
import pathlib
import sys
import time


def build_reference_model(reference_dir, *, encoder: str = 'resnet34', num_classes: int = 400):
    """The authors' VideoTransformer (16 frames, 224x224, LayerNorm) in eval mode, random weights
    (torch.manual_seed(0)). Also what `bench/train_step.py` times."""
    import torch
    sys.path.insert(0, str(reference_dir))
    from PIL import Image
    if not hasattr(Image, 'LINEAR'):  # removed in Pillow 10; the reference's transforms name it at import
        Image.LINEAR = Image.BILINEAR
    from action_recognition.models.video_transformer import VideoTransformer
    torch.manual_seed(0)
    model = VideoTransformer(512, 16, encoder=encoder, n_classes=num_classes, input_size=224, pretrained=False,
                             layer_norm=True)
    return model.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reference_dir', required=True,
                        help="the authors' pytorch_toolkit/action_recognition folder (a checkout)")
    parser.add_argument('--output', required=True, help='ONNX file to write')
    parser.add_argument('--encoder', default='resnet34', help="the reference's encoder name (resnet34, mobilenetv2)")
    args = parser.parse_args(argv)
    reference_dir = pathlib.Path(args.reference_dir)
    if not (reference_dir / 'action_recognition' / 'models' / 'video_transformer.py').is_file():
        sys.exit(f'error: {reference_dir} is not the action_recognition folder of the reference checkout '
                 '(no action_recognition/models/video_transformer.py in it)')
    import torch
    model = build_reference_model(reference_dir, encoder=args.encoder)
    clip = torch.randn(1, 16, 3, 224, 224)
    t0 = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(model, (clip,), args.output, opset_version=17, input_names=['clip'], output_names=['logits'],
                          dynamo=False)
    params = sum(p.numel() for p in model.parameters())
    print(f'wrote {args.output}: the reference VideoTransformer ({args.encoder}, {params:,} parameters) in '
          f'{time.perf_counter() - t0:.0f} s')


if __name__ == '__main__':
    main()
