"""Training side of acnet: the network, data, losses, training loop and metrics.

This part needs torch (``pip install 'acnet[train]'``). It never imports TensorRT.
"""
