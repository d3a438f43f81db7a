"""Feature datasets on disk, the embedded synthetic benchmark, and batching (never imports the model)."""
