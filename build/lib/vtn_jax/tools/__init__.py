"""The commands (installed as console scripts `vtn-*`): each parses absl flags (`cli`) and makes one library call."""
