"""The vocabulary and the contract every stage shares; it imports nothing of the pipeline."""
