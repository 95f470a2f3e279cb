"""What the streaming benchmarks share (no flags here): the VTN models they time, exported once and reused."""
import pathlib
import time

from vtn_jax.configs import default

EXPORT_VERSION = 'v3'  # bump when the exported graphs change, so cached exports are redone


def export_model(encoder: str, work_dir: pathlib.Path):
    """Exports (or reuses) the encoder and decoder of a random-weight 224x224 RGB VTN, float and INT8."""
    config = default.get_config()
    config.model.encoder = encoder
    from vtn_jax.inference import export_record  # the record's format too: an older folder is not read
    out = work_dir / f'{encoder}_{EXPORT_VERSION}_format{export_record.FORMAT.split()[-1]}'
    wanted = ('encoder.xml', 'decoder.xml', 'encoder_int8.xml', 'decoder_int8.xml', 'export.json')
    if all((out / name).is_file() for name in wanted):
        return out, config
    from vtn_jax import checkpoints
    from vtn_jax.export import artifacts, pipeline
    from vtn_jax.models import vtn as vtn_lib
    variables = checkpoints.random_variables(vtn_lib.create_model(config.model), image_size=config.data.crop_size)
    options = artifacts.ExportOptions(parts=('encoder', 'decoder'), int8=True, calib_clips=32,
                                      calib_split='synthetic')
    t0 = time.perf_counter()
    pipeline.export(config, variables, out, options, weights='random (benchmark)', verify_exports=False)
    print(f'  exported {encoder} to {out} in {time.perf_counter() - t0:.0f} s', flush=True)
    return out, config
