"""DiffECG (Zhou et al., IJCAI 2025): diffusion self-supervised pre-training and noise-step personalization.

- ``pretrain``: resumable, label-free pre-training of the 1-D UNet on ECG arrays;
- ``contrastive``, ``modalities``, ``multimodal``: the raw / spectrogram / Lorenz-plot fusion of the paper;
- the networks live with the other models: ``models.ddpm`` (the DDPM noise schedule and the epsilon-prediction loss),
  ``models.unet1d`` (a compact 1-D UNet: residual blocks, sinusoidal time embedding, self-attention in the
  bottleneck, split into an encoder and a decoder) and the registered ``diffecg`` model (``models.diffecg``: a frozen
  encoder fed x_t, noised to step t with a fixed seed, plus a head);
- the ``diffecg-t`` personalization strategy (in ``ecgadapt.personalize``): per-subject t by Bayesian optimisation.
"""
