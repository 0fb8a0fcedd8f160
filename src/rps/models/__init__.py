"""The three model families behind one interface, and their export to ONNX (SPEC §5, §6.4).

Training-side only: this package imports torch and xgboost, which the web process never loads.
Import the families from their modules (or through :mod:`rps.models.catalog`); importing the
package itself loads neither.
"""
