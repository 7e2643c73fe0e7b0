"""DDPM forward process (Ho et al. 2020): linear beta schedule, q(x_t | x_0), epsilon-prediction loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class DDPMSchedule:
    def __init__(self, steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        self.steps = steps
        self.betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, 0)

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t) for integer steps t (0-based), shaped [batch, 1, 1]."""
        a = self.alphas_cumprod[t.long().cpu()].float().to(t.device)
        return a.sqrt().view(-1, 1, 1), (1 - a).sqrt().view(-1, 1, 1)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps."""
        s, n = self.coefficients(t)
        return s * x0 + n * noise

    def loss(self, model: torch.nn.Module, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared error of the predicted noise at uniformly drawn steps (the simple DDPM objective)."""
        t = torch.randint(0, self.steps, (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        return F.mse_loss(model(self.q_sample(x0, t, noise), t).float(), noise)
