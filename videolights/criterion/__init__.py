"""The Hungarian matcher and the training losses."""
