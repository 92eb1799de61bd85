"""Model building blocks shared by the labs, one module each (imported by name, so that reading a
lab's config does not import torch)."""
