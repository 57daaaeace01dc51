"""NAS for compact MNIST CNNs: NNI search under an fvcore parameter budget (see README.md).

Importing the package changes nothing in the process; entry points call `nas.process.prepare_process`."""
