"""The diff layer: desired against actual, field by field; resources to recorded specs and back."""
