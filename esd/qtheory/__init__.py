"""Predictions of the number of fixed points Q(N, L) from the spectral theory."""

from esd.qtheory.predict import QPrediction, predict_q, predict_q_heavy

__all__ = ["QPrediction", "predict_q", "predict_q_heavy"]
