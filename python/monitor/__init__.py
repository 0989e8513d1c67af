"""Monitoring of the deployed model: data-capture report, alerts, workflow graphs.

``monitor.image_stats`` is also imported by training: the baseline of the input-drift check and
the statistics of captured images must be computed by the very same function.
"""
