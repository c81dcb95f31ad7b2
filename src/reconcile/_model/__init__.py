"""The model layer: resource classes and fields, stand-in values, secrets, references, serialisation."""
