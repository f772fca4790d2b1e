"""Two of moto's per-request costs, cut without changing a byte it answers (patches of
``server.PATCHES``; the tests compare the bodies with moto's own):

- every request lists its response class's methods with ``inspect.getmembers`` to find the
  action's (:func:`cache_action_names`: once per class; the classes do not gain methods once the
  server runs);
- DynamoDB's answers holding items (GetItem's ``Item``, DeleteItem's and UpdateItem's
  ``Attributes``...) are walked attribute by attribute against the API model by moto's generic
  serializer, each ``AttributeValue`` trying ten members and their aliases
  (:func:`attribute_values_as_stored`: an attribute value moto holds in DynamoDB JSON already is
  written as it is held).
"""

from __future__ import annotations

import functools
from typing import Any

from moto.core import responses
from moto.core.serialize import BaseJSONSerializer

# Attribute value types held as JSON as they are sent; B and BS (binary: base64) take moto's path.
_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}
_SETS = ("SS", "NS")


def _as_stored(value: object) -> bool:
    """Whether ``value`` is one attribute value (``{"S": "x"}``...) in DynamoDB JSON of the types
    moto's serializer writes unchanged, nested values included."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, held),) = value.items()
    if kind in _SCALARS:
        return type(held) is _SCALARS[kind]
    if kind in _SETS:
        return isinstance(held, list) and all(type(member) is str for member in held)
    if kind == "M":
        return isinstance(held, dict) and all(type(name) is str and _as_stored(v) for name, v in held.items())
    if kind == "L":
        return isinstance(held, list) and all(_as_stored(member) for member in held)
    return False


def attribute_values_as_stored() -> None:
    """DynamoDB's ``AttributeValue`` structures written as moto holds them, when :func:`_as_stored`."""
    structure = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(
        self: BaseJSONSerializer,
        serialized: Any,  # noqa: ANN401 - moto's Serialized
        value: Any,  # noqa: ANN401
        shape: Any,  # noqa: ANN401 - botocore's StructureShape
        key: str,
    ) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and self.operation_model.service_model.service_name == "dynamodb"
            and _as_stored(value)
        ):
            self._default_serialize(serialized, value, shape, key)  # where moto puts its copy
            return
        structure(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


def cache_action_names() -> None:
    """``method_names_from_class`` once per response class."""
    # imported by moto's responses module from its utils: the name that module looks up is replaced
    names = functools.cache(responses.method_names_from_class)  # type: ignore[attr-defined]
    responses.method_names_from_class = names  # type: ignore[attr-defined]
