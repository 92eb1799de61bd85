"""The training engine: device and seed, the one training loop, and the run folder.

It knows nothing about any lab. Labs hand it a model, tensors (or a batcher) and a loss; it
hands back a trained model and a history, checkpointing every epoch so a run can be resumed.
"""
