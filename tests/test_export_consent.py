"""OpenVINO's usage statistics: off unless the user opted in through OpenVINO's own consent file."""
import openvino_telemetry

from vtn_jax.export import consent


def write_consent(home, value):
    folder = home / 'intel'
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'openvino_telemetry').write_text(value)


def test_only_an_explicit_yes_counts_as_consent(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    assert not consent.user_opted_in()  # no decision recorded: not consent (OpenVINO itself would send)
    write_consent(tmp_path, '0')
    assert not consent.user_opted_in()
    write_consent(tmp_path, '1')
    assert consent.user_opted_in()


def test_telemetry_instances_get_no_consent_without_an_opt_in(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    consent.keep_off_unless_opted_in()
    telemetry = openvino_telemetry.Telemetry(app_name='vtn_jax-test', app_version='0', tid='G-TEST',
                                             backend='ga4', enable_opt_in_dialog=False)
    telemetry.init(app_name='vtn_jax-test', app_version='0', tid='G-TEST', backend='ga4',
                   enable_opt_in_dialog=False)  # what OpenVINO's converter does when another tool came first
    assert telemetry.consent is False
