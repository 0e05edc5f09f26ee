"""Evaluating trained models with the metrics each field reports (models + metrics + data).

``stargan_v2``: the official StarGAN v2 protocol (FID and LPIPS diversity per translation task).
``style_transfer``: FID, content LPIPS and ArtFID of a style-transfer model.
``demo``: the StarGAN v2 demo's four numbers (domain, colour, source, diversity) beside trivial outputs.
"""
