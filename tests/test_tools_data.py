"""The vtn-data command: its help, a build with progress and report, and its one-line errors."""
from conftest import run_command
from test_data_tfds_builders import make_class_folders
from vtn_jax.data import tfds_builders
from vtn_jax.tools import data


def test_help_build_and_report(tmp_path, capsys):
    assert run_command(data, '--helpshort') == (0, '')
    text = capsys.readouterr().out
    assert '--split_files' in text and 'ucf101' in text and '--resize_short' in text and '--workers' in text
    assert '--beam_pipeline_options' in text
    root = tmp_path / 'videos'
    make_class_folders(root, videos_per_class=2)
    assert run_command(data, 'build', 'video_folder', '--root', root, '--data_dir', tmp_path / 'tfds',
                       '--resize_short', 12, '--test_percent', 50, '--builder_config', 'mine',
                       '--workers', 1) == (0, '')
    out = capsys.readouterr().out
    assert 'videos/s' in out and '0 bad videos' in out
    assert (tmp_path / 'tfds' / 'video_folder' / 'mine' / '1.0.0' / tfds_builders.REPORT_FILE).is_file()
    assert run_command(data, 'report', 'video_folder', '--builder_config', 'mine', '--data_dir',
                       tmp_path / 'tfds') == (0, '')
    assert '0 bad videos' in capsys.readouterr().out


def test_bad_input_is_one_line(tmp_path):
    code, message = run_command(data, 'report', 'video_folder', '--builder_config', 'nothing', '--data_dir', tmp_path)
    assert code == 1 and message.startswith('error: video_folder/nothing is not built') and '\n' not in message
    code, _ = run_command(data, 'build', 'video_folder', '--data_dir', tmp_path)
    assert code == 1
