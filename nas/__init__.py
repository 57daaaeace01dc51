"""NAS for compact MNIST CNNs: NNI search under an fvcore parameter budget (see README.md)."""
