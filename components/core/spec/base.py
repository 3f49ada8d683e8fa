"""The base of every spec model."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    """Base of every spec model: camelCase aliases, snake_case names, unknown keys rejected.

    Every field is documented by the docstring under it: that text is the field's description here, in
    the generated args of the component package (`make args`) and so in its schema.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
        validate_default=True,
        use_attribute_docstrings=True,
    )
