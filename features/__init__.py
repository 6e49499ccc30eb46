"""Feature extraction: turn a clip into the model's text, audio and vision inputs (paper §4.2.1).

This package is the ground floor of the project: it imports nothing else of ours.
"""
