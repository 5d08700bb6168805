"""The model: the masked autoencoder, its training, held-out error, and its file."""
