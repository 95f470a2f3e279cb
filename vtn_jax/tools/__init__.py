"""The commands (installed as console scripts `vtn-*`): each parses absl flags (`cli`), imports the library inside
its `main` and calls it (vtn-demo and vtn-quickstart still hold some of their own logic). Importing this package
prepares a command's process: TensorFlow's native start-up notices stay out of the output
(`vtn_jax.logs.quiet_native_start`)."""
from vtn_jax import logs

logs.quiet_native_start()
