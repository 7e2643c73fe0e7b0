"""Beats that represent the whole recording: clusters of the model's view of the beats (rare and uncertain clusters
first), and the k-center core-set (each next beat the one farthest from every beat labelled or chosen)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from ecgadapt.models.registry import EcgModel
from ecgadapt.query.base import QueryPool, QueryStrategy, describe, register_query

#: beats a k-means step fits on at most: a day-long Holter's 100,000 beats cluster as well from a sample
KMEANS_SAMPLE = 20_000
#: clusters at most: beyond a few hundred, clusters are single beats and k-means only costs time (the beats asked for
#: beyond them are the least sure of the rest)
MAX_CLUSTERS = 256


@register_query
class Cluster(QueryStrategy):
    """Cluster the recording's beats on the model's features (which hold the RR intervals) into ``k`` clusters (or
    ``clusters``; at most ``MAX_CLUSTERS``); ask for the beat nearest each cluster's centre, the rarest clusters first,
    then the ones the model is least sure of. A cluster that holds a labelled beat already comes last."""

    name = "cluster"
    defaults = {"clusters": 0}  # 0: as many as beats asked for

    def _select(self, model: EcgModel | None, pool: QueryPool, candidates: np.ndarray, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        emb = pool.embedding(model)
        n_clusters = int(min(self.params["clusters"] or k, MAX_CLUSTERS, len(candidates)))
        fit_on = np.flatnonzero(pool.eligible)
        if len(fit_on) > KMEANS_SAMPLE:
            fit_on = np.sort(rng.choice(fit_on, KMEANS_SAMPLE, replace=False))
        km = MiniBatchKMeans(n_clusters=n_clusters, random_state=int(rng.integers(2 ** 31)), n_init=3,
                             batch_size=2048).fit(emb[fit_on])
        cluster = km.predict(emb)
        p = pool.probabilities(model)
        margin = np.diff(np.sort(p, axis=1)[:, -2:], axis=1)[:, 0]
        size = np.bincount(cluster[pool.eligible], minlength=n_clusters)
        has_label = np.bincount(cluster[pool.labelled], minlength=n_clusters) > 0
        mean_margin = np.array([margin[cluster == c].mean() if (cluster == c).any() else 1.0
                                for c in range(n_clusters)])
        order = np.lexsort((mean_margin, size, has_label))  # unlabelled clusters, rare first, then unsure first
        chosen, reasons = [], []
        total = max(1, int(pool.eligible.sum()))
        for c in order:
            members = candidates[cluster[candidates] == c]
            if not len(members):
                continue
            nearest = members[np.argmin(((emb[members] - km.cluster_centers_[c]) ** 2).sum(1))]
            chosen.append(nearest)
            reasons.append(f"represents a cluster of {size[c]} beats ({size[c] / total:.1%} of the recording"
                           f"{', one of them labelled already' if has_label[c] else ''}); "
                           f"{describe(p[nearest], pool.label_names)}")
            if len(chosen) == k:
                break
        if len(chosen) < k:  # fewer clusters with candidates than beats asked for: the least sure of the rest
            rest = np.setdiff1d(candidates, chosen)
            extra = rest[np.argsort(margin[rest], kind="stable")[:k - len(chosen)]]
            chosen += list(extra)
            reasons += [f"uncertain: {describe(p[i], pool.label_names)}" for i in extra]
        return np.asarray(chosen), reasons


@register_query
class KCenter(QueryStrategy):
    """The k-center core-set (Sener & Savarese 2018), greedy: each next beat is the one farthest, in the model's view,
    from every beat labelled or chosen so far; the first, where none is labelled, the one farthest from the mean."""

    name = "kcenter"

    def _select(self, model: EcgModel | None, pool: QueryPool, candidates: np.ndarray, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        emb = pool.embedding(model)
        cand = emb[candidates]
        centres = emb[pool.labelled]
        sq = (cand ** 2).sum(1)
        if len(centres):  # squared distances as |a|^2 + |b|^2 - 2ab: a block of centres at a time, no n x m x d array
            dist = np.full(len(candidates), np.inf, dtype=np.float32)
            for start in range(0, len(centres), 256):
                block = centres[start:start + 256]
                d = sq[:, None] + (block ** 2).sum(1)[None, :] - 2.0 * cand @ block.T
                dist = np.minimum(dist, np.maximum(d, 0.0).min(1))
        else:
            dist = ((cand - emb[pool.eligible].mean(0)) ** 2).sum(1)
        chosen, reasons = [], []
        p = pool.probabilities(model)
        for _ in range(k):
            j = int(np.argmax(dist))
            chosen.append(candidates[j])
            reasons.append(f"farthest from the beats labelled or chosen so far (distance {np.sqrt(dist[j]):.1f}); "
                           f"{describe(p[candidates[j]], pool.label_names)}")
            dist = np.minimum(dist, ((cand - cand[j]) ** 2).sum(1))
            dist[j] = -1.0
        return np.asarray(chosen), reasons
