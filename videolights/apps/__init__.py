"""Using a trained model: feature extraction from videos, the `Predictor`, pretraining-data generation."""
