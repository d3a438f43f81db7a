"""The VideoLights network: layers, FRA, Bi-CMF, the transformer, post-processing, checkpoints and conversion."""
