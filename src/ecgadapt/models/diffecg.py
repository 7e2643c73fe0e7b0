"""The ``diffecg`` classifier: the UNet encoder as feature extractor, fed x_t, the input noised to step t with a
fixed seed (the same beat in the same place of a batch of the same size gets the same features; see
``DiffEcgClassifier.inference_batch``), features pooled, and a linear head.

Only the head (and, in the multi-modal variant, the fusion) is trained downstream: train with
``TrainConfig(freeze="head")`` or the ``diffecg-t`` strategy. ``set_t`` changes the noise step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecgadapt.models.ddpm import DDPMSchedule
from ecgadapt.models.unet1d import UNetEncoder, mean_max_pool
from ecgadapt.models.registry import EcgModel, register_model


class DiffEcgClassifier(EcgModel):
    # The noise is drawn for the whole batch from one seed, so a beat's epsilon depends on its place in its batch, not
    # on the beat alone: the same beat gets other features in a batch of another size. The recorded DiffECG figures
    # were classified in batches of 4,096, so this model keeps them. One epsilon per beat would mend it, and would
    # need those studies run again.
    inference_batch = 4096

    def __init__(self, in_leads: int, num_classes: int, base: int = 32, mults: tuple[int, ...] = (1, 2, 4), t: int = 50,
                 steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, noise_seed: int = 0):
        encoder = UNetEncoder(in_leads, base, tuple(mults))
        super().__init__(2 * encoder.out_channels, num_classes, in_leads)
        self.encoder = encoder
        self.schedule = DDPMSchedule(steps, beta_start, beta_end)
        self.noise_seed = noise_seed
        # a buffer, so a personalized t is saved and loaded with the weights
        self.register_buffer("t_step", torch.tensor(int(t)))

    @property
    def t(self) -> int:
        return int(self.t_step)

    def set_t(self, t: int) -> None:
        if not 0 <= t < self.schedule.steps:
            raise ValueError(f"t={t} outside [0, {self.schedule.steps})")
        self.t_step.fill_(int(t))

    def forward_features(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        x = F.pad(x, (0, (-n) % self.encoder.factor))
        gen = torch.Generator().manual_seed(self.noise_seed)  # fixed epsilon: deterministic features
        noise = torch.randn(x.shape, generator=gen).to(x.device, x.dtype)
        t = torch.full((x.shape[0],), self.t, dtype=torch.long, device=x.device)
        _, h, _ = self.encoder(self.schedule.q_sample(x, t, noise), t)
        return mean_max_pool(h)

    def load_pretrained(self, unet_state: dict[str, torch.Tensor]) -> None:
        """Copy the encoder half of a pre-trained UNet's weights."""
        enc = {k[len("encoder."):]: v for k, v in unet_state.items() if k.startswith("encoder.")}
        self.encoder.load_state_dict(enc)


@register_model
def diffecg(in_leads: int = 1, num_classes: int = 5, **kw: object) -> DiffEcgClassifier:
    return DiffEcgClassifier(in_leads, num_classes, **kw)
