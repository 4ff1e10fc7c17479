"""ONNX models as specs (``cnnsize import onnx``, ``cnnsize report model.onnx``).

Needs the optional ``onnx`` package (``pip install 'cnnsize[onnx]'``), imported
only inside :mod:`cnnsize.onnx.importer`.
"""
