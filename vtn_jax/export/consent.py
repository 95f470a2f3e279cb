"""OpenVINO's usage statistics stay off unless the user has opted in through OpenVINO's own consent tool.

The conversion API and NNCF report usage through `openvino_telemetry`, which sends when no consent file exists
(it counts "no decision" as consent) and forks a process per event to do so, after JAX has started its threads.
`keep_off_unless_opted_in` makes the telemetry singleton send nothing unless the consent file says yes
(`opt_in_out --opt_in`); it runs when `vtn_jax.export` is imported, before any converter is.
"""
import logging

_LOG = logging.getLogger(__name__)


def user_opted_in() -> bool:
    """Whether OpenVINO's consent file records an explicit yes (`opt_in_out --opt_in`)."""
    from openvino_telemetry.utils import opt_in_checker
    result = opt_in_checker.OptInChecker().check(enable_opt_in_dialog=False, disable_in_ci=False)
    return result == opt_in_checker.ConsentCheckResult.ACCEPTED


def keep_off_unless_opted_in() -> None:
    """Without an explicit opt-in, every Telemetry instance (now and later) has no consent, so nothing is sent."""
    try:
        import openvino_telemetry  # optional: the export stack only
    except ImportError:
        return
    if user_opted_in():
        return
    telemetry = openvino_telemetry.Telemetry
    if not getattr(telemetry.init, '_vtn_jax_no_consent', False):
        original = telemetry.init

        def init_without_consent(self, *args, **kwargs):
            original(self, *args, **kwargs)
            self.consent = False

        init_without_consent._vtn_jax_no_consent = True
        telemetry.init = init_without_consent
    existing = getattr(telemetry, '_SingletonMetaClass__single_instance', None)  # configured before this ran
    if existing is not None:
        existing.consent = False
