"""The local stack: the whole connection tracker on one machine, no AWS account.

``python -m local_stack`` (``make dev``) starts moto in server mode, provisions the table from
``template.yaml``, serves a WebSocket endpoint that emulates API Gateway, and polls the table's
stream like Lambda's event source mapping.
"""

from local_stack.functions import ensure_layer_on_path
from local_stack.template import load_template

# The shared layer is importable here as it is on Lambda (``/opt/python``), from the template's
# own ContentUri: the live view reads the metric catalogue from it.
ensure_layer_on_path(load_template())
