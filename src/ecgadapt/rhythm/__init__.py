"""Rhythm models (normal sinus rhythm, atrial fibrillation or flutter, other, noise): the checkpoint and the shipped
one (:mod:`.model`), training on CinC 2017 and MIT-BIH DS1 (:mod:`.training`), windows to episodes and the AF burden
(:mod:`.analysis`), short recordings classified (:mod:`.predict`)."""
