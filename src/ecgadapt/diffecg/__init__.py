"""DiffECG (Zhou et al., IJCAI 2025): diffusion self-supervised pre-training and noise-step personalization.

- ``ddpm``: the DDPM noise schedule and the epsilon-prediction loss;
- ``unet``: a compact 1-D UNet (residual blocks, sinusoidal time embedding, self-attention in the bottleneck),
  split into an encoder (contracting path + bottleneck: the feature extractor) and a decoder;
- ``pretrain``: resumable, label-free pre-training on ECG arrays;
- the ``diffecg`` model (registered): a frozen encoder fed x_t (noised to step t with a fixed seed) + a head;
- the ``diffecg-t`` personalization strategy (in ``ecgadapt.personalize``): per-subject t by Bayesian optimisation.
"""
