"""The model layer: resources and fields, stand-in values, secrets, references, serialisation."""
