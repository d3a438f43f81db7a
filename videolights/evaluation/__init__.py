"""The official QVHighlights / Charades-STA / TVSum / YouTube-Highlights metrics (numpy only, no torch)."""
