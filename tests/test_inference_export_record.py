"""The export record: one schema for export.json (every bad field named), files confined to the folder and checked
against their recorded size and SHA-256, unverified folders refused, and the IR's rt_info derived from the record."""
import shutil

import pytest

from export_helpers import rewrite_record, set_at
from vtn_jax import errors
from vtn_jax.inference import export_record


@pytest.fixture()
def folder(rgb, tmp_path):
    """A copy of the verified rgb export, free to damage."""
    _, _, _, out, _ = rgb
    copy = tmp_path / 'export'
    shutil.copytree(out, copy)
    return copy


def test_a_good_folder_reads_whole(folder):
    record = export_record.read(folder)
    assert record.clip.num_frames == 8 and record.clip.modality == 'rgb' and record.num_classes == 8
    assert record.preprocessing.crop_size == 32 and record.preprocessing.eval_crop == 'paper'
    assert record.parts['encoder'].ir_input.layout == 'NHWC' and record.parts['decoder'].ir_input.layout == 'NSD'
    assert record.checked_file('encoder') == folder / 'encoder.xml'
    record.check_verified()


@pytest.mark.parametrize('change, message', [
    (lambda r: r.clear() or r.update({'format': 'vtn_jax export 1'}), "format 'vtn_jax export 1' is not"),
    (set_at(('clip', 'stride'), 10 ** 9), 'clip.stride must be an integer from 1 to 64'),
    (set_at(('clip', 'stride'), '2'), '"stride" must be an integer'),
    (set_at(('clip', 'modality'), 'depth'), "model.modality must be one of"),
    (set_at(('preprocessing', 'std'), [0.2, 0.0, 0.2]), 'preprocessing.std must be three positive numbers'),
    (set_at(('preprocessing', 'mean'), [0.5]), 'preprocessing.mean must be three numbers'),
    (set_at(('class_names',), 'abcdefgh'), '"class_names" must be list'),
    (set_at(('class_names',), [0, 1, 2, 3, 4, 5, 6, 7]), '"class_names" must be a list of 1 to'),
    (set_at(('class_names',), [f'c{i}' for i in range(9)]), 'gives 8 classes, but class_names has 9'),
    (set_at(('artifacts', 'encoder', 'ir'), '../other/encoder.xml'), 'must be a file name inside the export folder'),
    (set_at(('artifacts', 'encoder', 'ir'), '/etc/passwd'), 'must be a file name inside the export folder'),
    (set_at(('artifacts', 'decoder', 'ir_input', 'shape'), [1, 7, 32]), 'the clip and crop give \\[1, 8, 32\\]'),
    (set_at(('artifacts', 'decoder', 'output', 'shape'), [1, 10 ** 9]), 'must be a list of positive integers'),
    (set_at(('artifacts', 'encoder', 'ir_input', 'dtype'), 'int4'), '"dtype" must be one of'),
    (set_at(('omz',), True), "an Open Model Zoo export takes the demo's crop \\(eval_crop 'authors', crop_size 224\\)"),
    (set_at(('artifacts', 'telepathy'), {}), '"artifacts" must hold some of'),
])
def test_a_bad_field_is_named(folder, change, message):
    rewrite_record(folder, change)
    with pytest.raises(errors.UserError, match=message):
        export_record.read(folder)


@pytest.mark.parametrize('text, message', [
    ('[]', 'expected a JSON object, got list'), ('null', 'expected a JSON object, got NoneType'),
    ('{"format": ', 'is not valid JSON'), ('[' * 100_000 + ']' * 100_000, 'is not valid JSON'),
    ('{"a": NaN}', 'is not valid JSON'),
])
def test_malformed_json_is_one_line(folder, text, message):
    (folder / 'export.json').write_text(text)
    with pytest.raises(errors.UserError, match=message) as e:
        export_record.read(folder)
    assert '\n' not in str(e.value) and 'export.json' in str(e.value)


def test_changed_or_cut_files_are_refused(folder):
    record = export_record.read(folder)
    data = bytearray((folder / 'encoder.bin').read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the weights
    (folder / 'encoder.bin').write_bytes(bytes(data))
    with pytest.raises(errors.UserError, match='encoder.bin is not the file the export wrote'):
        record.checked_file('encoder')
    (folder / 'decoder.xml').write_text((folder / 'decoder.xml').read_text()[:100])
    with pytest.raises(errors.UserError, match='decoder.xml is not the file the export wrote'):
        record.checked_file('decoder')
    (folder / 'whole.bin').unlink()
    with pytest.raises(errors.UserError, match='whole.bin is missing'):
        record.checked_file('whole')


@pytest.mark.parametrize('verification, message', [(None, 'did not run or did not finish'),
                                                    ({'passed': False}, 'verification failed')])
def test_an_unverified_folder_is_refused_unless_allowed(folder, verification, message):
    rewrite_record(folder, set_at(('verification',), verification))
    record = export_record.read(folder)
    with pytest.raises(errors.UserError, match=message):
        record.check_verified()
    record.check_verified(allow_unverified=True)


def test_model_info_follows_the_record(folder):
    record = export_record.read(folder)
    whole, decoder = record.model_info('whole'), record.model_info('decoder')
    assert whole['layout'] == 'NSTHWC' and whole['input_color'] == 'RGB' and whole['input_dtype'] == 'f32'
    assert whole['mean_values'] == '123.675 116.28 103.53'  # the caller normalises a float IR's input
    assert decoder['layout'] == 'NSD' and 'input_color' not in decoder and 'mean_values' not in decoder
    assert whole['labels'].split() == [n.replace(' ', '_') for n in record.class_names]
    # OpenVINO Model API's wrapper by name; our own identity beside it; its BGR frames reversed for an RGB IR.
    assert whole['model_type'] == 'Action Classification' and decoder['model_type'] == 'vtn_action_recognition'
    assert whole['vtn_model_type'] == decoder['vtn_model_type'] == 'vtn_action_recognition'
    assert whole['reverse_input_channels'] == 'True' and whole['resize_type'] == 'standard'
    assert 'reverse_input_channels' not in decoder and 'omz_window' not in decoder
    assert (folder / 'labels.txt').read_text() == record.labels_text() == ''.join(
        f'class {i}\n' for i in range(8))


def test_model_info_of_a_uint8_bgr_whole_model_leaves_the_normalisation_to_the_ir(bgr_nchw):
    record = export_record.read(bgr_nchw[3])
    whole = record.model_info('whole')
    assert whole['layout'] == 'NSCTHW' and whole['input_dtype'] == 'u8' and whole['reverse_input_channels'] == 'False'
    assert 'mean_values' not in whole and 'scale_values' not in whole  # the IR normalises: Model API must not


def test_class_names_are_single_lines(folder):
    rewrite_record(folder, set_at(('class_names',), [f'c{i}' for i in range(7)] + ['two\nlines']))
    with pytest.raises(errors.UserError, match='non-empty one-line strings'):
        export_record.read(folder)


def test_files_linked_outside_the_folder_are_refused(folder, tmp_path):
    record = export_record.read(folder)
    outside = tmp_path / 'elsewhere.bin'
    (folder / 'encoder.bin').rename(outside)
    (folder / 'encoder.bin').symlink_to(outside)  # the same bytes, so the checksum alone would pass
    with pytest.raises(errors.UserError, match='encoder.bin is a link to .*elsewhere.bin, outside the export folder'):
        record.checked_file('encoder')
    (folder / 'export.json').rename(tmp_path / 'export.json')
    (folder / 'export.json').symlink_to(tmp_path / 'export.json')
    with pytest.raises(errors.UserError, match='export.json is a link to'):
        export_record.read(folder)


def test_writing_the_record_leaves_no_temporary_file(folder):
    export_record.write(folder, export_record.read(folder))
    assert not [p.name for p in folder.iterdir() if p.name.endswith('.tmp')]
    export_record.read(folder).check_verified()
