"""Supervised fine-tuning on the patient's labelled minutes: all layers, the last block, the head only, L2-SP (Li et
al. 2018: a penalty pulling the weights towards the population model's, so a few hundred beats cannot drag the
network far from what it learnt on thousands of patients), and fine-tuning with replay of class-balanced population
beats (Kiranyaz et al. 2016 train each patient's network on 245 "common" beats of records 100-124 plus the patient's
first 5 minutes). Replay matters when a class is absent from the labelled minutes but appears later (in MIT-BIH,
records 202, 207, 222 and 234 have no S beat in their first 5 minutes and 50-209 after): without it, fine-tuning
teaches the network that this patient has no such beats."""

from __future__ import annotations

from ecgadapt.personalize.base import Strategy, balanced_sample, register_strategy, train_steps, trainable


class _FineTune(Strategy):
    layers = "all"
    defaults = {"steps": 60, "lr": 1e-3, "batch_size": 64, "l2sp": 0.0}

    def _adapt(self, model, labelled, unlabelled, context):
        params = trainable(model, self.layers)
        anchor = [p.detach().clone() for p in params]
        alpha = self.params["l2sp"]

        def l2sp_penalty(m, step):  # noqa: ARG001 - the penalty does not depend on the step
            return alpha * sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))

        extra = self._extra_beats(labelled, context)
        losses = train_steps(model, params, labelled, steps=self.params["steps"], lr=self.params["lr"],
                             batch_size=self.params["batch_size"], seed=context.seed,
                             extra_loss=l2sp_penalty if alpha > 0 else None, extra=extra)
        context.info.update(steps=self.params["steps"], trained_parameters=sum(p.numel() for p in params),
                            final_loss=losses[-1] if losses else None)
        return model

    def _extra_beats(self, labelled, context):
        """Labelled beats trained on beside the patient's minutes (replayed population beats; a subclass may add
        others)."""
        n_replay = self.params.get("replay", 0)
        return balanced_sample(context.population, n_replay, context.seed) if n_replay else None


@register_strategy
class FineTune(_FineTune):
    name = "finetune"
    search_grid = {"lr": [3e-4, 1e-3], "steps": [30, 80]}
    test_params = {"steps": 4}
    study_rank = 1


@register_strategy
class FineTuneReplay(_FineTune):
    name = "finetune-replay"
    search_grid = {"lr": [3e-4, 1e-3], "steps": [30, 80], "replay": [60, 245]}
    test_params = {"steps": 4, "replay": 40}
    study_rank = 6
    needs_population = True
    defaults = {**_FineTune.defaults, "replay": 245}  # Kiranyaz et al.'s number of common beats


@register_strategy
class FineTuneLast(_FineTune):
    name = "finetune-last"
    search_grid = {"lr": [1e-3, 3e-3], "steps": [30, 80]}
    test_params = {"steps": 4}
    study_rank = 2
    layers = "last"


@register_strategy
class FineTuneHead(_FineTune):
    name = "finetune-head"
    search_grid = {"lr": [3e-3, 1e-2], "steps": [30, 80]}
    test_params = {"steps": 4}
    study_rank = 3
    layers = "head"
    defaults = {**_FineTune.defaults, "lr": 5e-3}


@register_strategy
class L2SP(_FineTune):
    name = "l2sp"
    search_grid = {"l2sp": [1e-3, 1e-2], "steps": [30, 80]}
    test_params = {"steps": 4}
    study_rank = 4
    defaults = {**_FineTune.defaults, "l2sp": 0.01}


__all__ = ["FineTune", "FineTuneHead", "FineTuneLast", "FineTuneReplay", "L2SP"]
