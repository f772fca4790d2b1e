import sys

from sam_template.handlers import ensure_layer_on_path
from sam_template.model import load_template

# The layer is importable in this process as it is on Lambda (``/opt/python``), from the template's
# own ContentUri: the live view reads the metric catalogue from it.
ensure_layer_on_path(load_template())

from local_stack.cli import main  # noqa: E402 - needs the layer on the path

sys.exit(main())
