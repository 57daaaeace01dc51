"""Handing a model over: top-k exports of a search (export.py), ONNX files checked by onnxruntime
(onnx.py), classifying images with a trained network (predict.py)."""
