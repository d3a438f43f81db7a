"""The Accelerate training loop and one experiment as a function."""
