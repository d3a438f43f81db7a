"""Ablation studies: grids of papermill notebooks, their runner and their reports."""
